/* One function per syscall that Python 3.11 lacks.  Each returns -1 with
 * errno set on failure; ocirun/_sys.py turns that into OSError. */
#include <stdint.h>

int ocirun_unshare(int flags);
int ocirun_setns(int fd, int nstype);
int ocirun_pivot_root(const char *new_root, const char *put_old);
int ocirun_mount(const char *source, const char *target, const char *fstype,
                 unsigned long flags, const char *data);
int ocirun_umount2(const char *target, int flags);
int ocirun_sethostname(const char *name, size_t len);
int ocirun_setdomainname(const char *name, size_t len);
int ocirun_prctl(int option, unsigned long arg2, unsigned long arg3,
                 unsigned long arg4, unsigned long arg5);
int ocirun_capset(const uint32_t effective[2], const uint32_t permitted[2],
                  const uint32_t inheritable[2]);
long ocirun_keyctl_join_session_keyring(const char *name);
int ocirun_personality(unsigned long persona);
int ocirun_ioprio_set(int which, int who, int ioprio);
int ocirun_sched_setattr(int pid, uint32_t policy, uint64_t flags, int32_t nice,
                         uint32_t priority, uint64_t runtime, uint64_t deadline,
                         uint64_t period);
int ocirun_mount_setattr(int dfd, const char *path, unsigned int flags, uint64_t attr_set,
                         uint64_t attr_clr, uint64_t propagation, uint64_t userns_fd);
int ocirun_open_tree(int dfd, const char *path, unsigned int flags);
int ocirun_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                      unsigned int flags);
int ocirun_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode);
int ocirun_seccomp_set_mode_filter(unsigned int flags, const void *program, unsigned short length);
int ocirun_bpf_prog_load_cgroup_device(const void *instructions, unsigned int count,
                                       char *log, unsigned int log_size);
int ocirun_bpf_prog_attach(int target_fd, int program_fd, unsigned int attach_type, unsigned int flags);
int ocirun_bpf_prog_query(int target_fd, unsigned int attach_type, uint32_t *ids, uint32_t *count);
int ocirun_bpf_prog_get_fd_by_id(uint32_t id);
int ocirun_bpf_prog_detach(int target_fd, int program_fd, unsigned int attach_type);
int ocirun_inotify_init1(int flags);
int ocirun_inotify_add_watch(int fd, const char *path, uint32_t mask);
int ocirun_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
int ocirun_fsopen(const char *fs_name, unsigned int flags);
int ocirun_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux);
int ocirun_fsmount(int fd, unsigned int flags, unsigned int attr_flags);
int ocirun_fstatfs_type(int fd, int64_t *type);
