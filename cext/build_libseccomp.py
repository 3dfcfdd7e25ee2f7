"""cffi build script (API, out-of-line mode) for ocirun's binding of libseccomp.

A module of its own, linked with -lseccomp, so that a container without a
seccomp profile never loads the library.  Only ocirun/linux/seccomp.py
imports it.  libseccomp compiles a profile to BPF; the kernel call that loads
it is in the syscall shim (shim.c), made by the init.
"""
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef("""
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;
enum scmp_compare { SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT,
                    SCMP_CMP_MASKED_EQ, ... };
enum scmp_filter_attr { SCMP_FLTATR_CTL_NNP, SCMP_FLTATR_CTL_TSYNC, ... };
struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op; scmp_datum_t datum_a; scmp_datum_t datum_b; };
#define __NR_SCMP_ERROR ...

scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_arch_exist(const scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt,
                           const struct scmp_arg_cmp *arg_array);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
""")
ffibuilder.set_source("ocirun._libseccomp", "#include <seccomp.h>", libraries=["seccomp"])

if __name__ == "__main__":
    import os
    os.chdir(HERE.parent)
    ffibuilder.compile(verbose=False)
