#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/bpf.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <linux/openat2.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/seccomp.h>

#include "shim.h"

int ocirun_unshare(int flags) { return unshare(flags); }

int ocirun_setns(int fd, int nstype) { return setns(fd, nstype); }

int ocirun_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int ocirun_mount(const char *source, const char *target, const char *fstype,
                 unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int ocirun_umount2(const char *target, int flags) { return umount2(target, flags); }

int ocirun_sethostname(const char *name, size_t len) { return sethostname(name, len); }

int ocirun_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }

int ocirun_prctl(int option, unsigned long arg2, unsigned long arg3,
                 unsigned long arg4, unsigned long arg5)
{
    return prctl(option, arg2, arg3, arg4, arg5);
}

int ocirun_capset(const uint32_t effective[2], const uint32_t permitted[2],
                  const uint32_t inheritable[2])
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = effective[i];
        data[i].permitted = permitted[i];
        data[i].inheritable = inheritable[i];
    }
    return (int)syscall(SYS_capset, &header, data);
}

long ocirun_keyctl_join_session_keyring(const char *name)
{
    return syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
}

int ocirun_personality(unsigned long persona)
{
    /* personality(2) returns the previous persona; -1 only on error */
    return (int)syscall(SYS_personality, persona);
}

int ocirun_ioprio_set(int which, int who, int ioprio)
{
    return (int)syscall(SYS_ioprio_set, which, who, ioprio);
}

/* struct sched_attr as the kernel defines it (include/uapi/linux/sched/types.h);
 * glibc 2.36 has no wrapper or header for it. */
struct ocirun_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

int ocirun_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                         uint32_t priority, uint64_t runtime, uint64_t deadline,
                         uint64_t period)
{
    struct ocirun_sched_attr attr = {
        sizeof(attr), policy, flags, nice, priority, runtime, deadline, period,
    };
    return (int)syscall(SYS_sched_setattr, pid, &attr, 0);
}

int ocirun_mount_setattr(int dfd, const char *path, unsigned int flags, uint64_t attr_set,
                         uint64_t attr_clr, uint64_t propagation, uint64_t userns_fd)
{
    struct mount_attr attr = {attr_set, attr_clr, propagation, userns_fd};
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, &attr, sizeof(attr));
}

int ocirun_open_tree(int dfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dfd, path, flags);
}

int ocirun_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                      unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}

int ocirun_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode)
{
    return (int)syscall(SYS_set_mempolicy, mode, nodemask, maxnode);
}

/* program: `length` struct sock_filter instructions, as libseccomp exports
 * them.  Returns 0, or with SECCOMP_FILTER_FLAG_NEW_LISTENER the notify fd. */
int ocirun_seccomp_set_mode_filter(unsigned int flags, const void *program, unsigned short length)
{
    struct sock_fprog prog = {length, (struct sock_filter *)program};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* instructions: `count` struct bpf_insn of a BPF_PROG_TYPE_CGROUP_DEVICE
 * program.  Returns the program's fd; the verifier's words land in log. */
int ocirun_bpf_prog_load_cgroup_device(const void *instructions, unsigned int count,
                                       char *log, unsigned int log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)instructions;
    attr.insn_cnt = count;
    attr.license = (uint64_t)(uintptr_t)"Apache";
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = log_size;
    attr.log_level = log_size ? 1 : 0;
    return (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

int ocirun_bpf_prog_attach(int target_fd, int program_fd, unsigned int attach_type, unsigned int flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = target_fd;
    attr.attach_bpf_fd = program_fd;
    attr.attach_type = attach_type;
    attr.attach_flags = flags;
    return (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
}

/* ids: room for *count program ids attached to target_fd for attach_type;
 * on return *count is how many there are. */
int ocirun_bpf_prog_query(int target_fd, unsigned int attach_type, uint32_t *ids, uint32_t *count)
{
    union bpf_attr attr;
    int ret;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = target_fd;
    attr.query.attach_type = attach_type;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = *count;
    ret = (int)syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof(attr));
    *count = attr.query.prog_cnt;
    return ret;
}

int ocirun_bpf_prog_get_fd_by_id(uint32_t id)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    return (int)syscall(SYS_bpf, BPF_PROG_GET_FD_BY_ID, &attr, sizeof(attr));
}

int ocirun_bpf_prog_detach(int target_fd, int program_fd, unsigned int attach_type)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = target_fd;
    attr.attach_bpf_fd = program_fd;
    attr.attach_type = attach_type;
    return (int)syscall(SYS_bpf, BPF_PROG_DETACH, &attr, sizeof(attr));
}

int ocirun_inotify_init1(int flags)
{
    return inotify_init1(flags);
}

int ocirun_inotify_add_watch(int fd, const char *path, uint32_t mask)
{
    return inotify_add_watch(fd, path, mask);
}

int ocirun_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how how = {flags, mode, resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int ocirun_fsopen(const char *fs_name, unsigned int flags)
{
    return (int)syscall(SYS_fsopen, fs_name, flags);
}

int ocirun_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux)
{
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

int ocirun_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{
    return (int)syscall(SYS_fsmount, fd, flags, attr_flags);
}

/* The filesystem's magic number (statfs(2) f_type): what a file really is on. */
int ocirun_fstatfs_type(int fd, int64_t *type)
{
    struct statfs buf;
    int ret = fstatfs(fd, &buf);
    if (ret == 0)
        *type = (int64_t)buf.f_type;
    return ret;
}
