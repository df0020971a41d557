#ifndef CSTOQ_EMULATION_H
#define CSTOQ_EMULATION_H
/* Linux calls for StoqEmulation (the netns backend). Swift's Glibc module does
 * not import setns/unshare/mount, the TUN and interface ioctls (variadic ioctl,
 * struct ifreq/in6_ifreq/in6_rtmsg unions), pidfd_open, eventfd or posix_spawn
 * file actions in a usable form; these wrappers take plain ints and byte arrays.
 * All return 0 (or an fd/count) on success and -1 with errno set on failure. */
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/* Opens the calling thread's network namespace (/proc/thread-self/ns/net). */
int cstoq_emu_current_netns(void);

/* setns(fd, CLONE_NEWNET) for the calling thread only. */
int cstoq_emu_setns(int fd);

/* Creates a new network namespace and pins it at `path` (a bind mount, as
 * `ip netns add` does), then returns the thread to the namespace `home_fd`. */
int cstoq_emu_netns_create(const char *path, int home_fd);

/* Unpins a namespace created above: detaches the bind mount, removes `path`. */
int cstoq_emu_netns_remove(const char *path);

/* Writes `value` to a sysctl file of the calling thread's namespace. */
int cstoq_emu_write_file(const char *path, const char *value);

/* Creates TUN device `name` (IFF_TUN | IFF_NO_PI), non-blocking and
 * close-on-exec, in the calling thread's namespace. Returns the fd. */
int cstoq_emu_tun_open(const char *name);

/* Interface `name` up with MTU `mtu` (0 leaves it); loopback takes mtu 0. */
int cstoq_emu_link_up(const char *name, int mtu);

/* Adds IPv6 address `addr`/`prefix_len` to interface `name`. */
int cstoq_emu_addr_add(const char *name, const uint8_t addr[16], int prefix_len);

/* Adds a route to `dst`/`prefix_len` out of interface `name`. */
int cstoq_emu_route_add(const char *name, const uint8_t dst[16], int prefix_len);

/* Spawns argv[0] (PATH search) in the calling thread's network namespace, in
 * its own process group, with stdin from /dev/null and stdout/stderr appended
 * to the given files. Returns 0 and the pid in *pid. */
int cstoq_emu_spawn(char *const argv[], const char *stdout_path, const char *stderr_path, pid_t *pid);

/* pidfd_open(pid): an fd that becomes readable when the process exits. */
int cstoq_emu_pidfd_open(pid_t pid);

/* waitpid(pid, WNOHANG): 1 and the status decoded when it has exited (*code
 * the exit code, or *signal the terminating signal), 0 if still running. */
int cstoq_emu_reap(pid_t pid, int *code, int *signal);

/* An eventfd that becomes readable when SIGINT or SIGTERM arrives (the
 * handler only writes to it: async-signal-safe). Returns the fd. */
int cstoq_emu_signal_fd(void);
/* Restores the default SIGINT/SIGTERM actions. */
void cstoq_emu_signal_restore(void);
/* The last signal caught (0: none). */
int cstoq_emu_signal_caught(void);
/* Drains an eventfd. */
void cstoq_emu_eventfd_drain(int fd);



/* Puts the calling thread under SCHED_FIFO at `priority` (1-99), or back to
 * SCHED_OTHER when priority is 0: the real-time driver then preempts
 * ordinary work (builds, other tests) and its lag stays small. */
int cstoq_emu_sched_fifo(int priority);
#endif
