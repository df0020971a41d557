#define _GNU_SOURCE
#include "CStoqEmulation.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int cstoq_emu_current_netns(void) { return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC); }

int cstoq_emu_setns(int fd) { return setns(fd, CLONE_NEWNET); }

int cstoq_emu_netns_create(const char *path, int home_fd) {
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0) return -1;
    close(fd);
    if (unshare(CLONE_NEWNET) != 0) {
        int e = errno;
        unlink(path);
        errno = e;
        return -1;
    }
    int rc = mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL);
    int e = errno;
    /* Back home whatever happened; a thread left in the new namespace would
     * open every later socket there. */
    if (setns(home_fd, CLONE_NEWNET) != 0) return -1;
    if (rc != 0) {
        unlink(path);
        errno = e;
        return -1;
    }
    return 0;
}

int cstoq_emu_netns_remove(const char *path) {
    if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) return -1;
    if (unlink(path) != 0 && errno != ENOENT) return -1;
    return 0;
}

int cstoq_emu_write_file(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    if (n < 0) { errno = e; return -1; }
    return 0;
}

int cstoq_emu_tun_open(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int control_socket(int family) { return socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

int cstoq_emu_link_up(const char *name, int mtu) {
    int s = control_socket(AF_INET6);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int rc = 0;
    if (mtu > 0) {
        ifr.ifr_mtu = mtu;
        rc = ioctl(s, SIOCSIFMTU, &ifr);
    }
    if (rc == 0) rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

/* Kernel's struct in6_ifreq (linux/ipv6.h clashes with netinet/in.h). */
struct cstoq_in6_ifreq {
    struct in6_addr addr;
    uint32_t prefixlen;
    int ifindex;
};

int cstoq_emu_addr_add(const char *name, const uint8_t addr[16], int prefix_len) {
    unsigned index = if_nametoindex(name);
    if (index == 0) return -1;
    int s = control_socket(AF_INET6);
    if (s < 0) return -1;
    struct cstoq_in6_ifreq req;
    memset(&req, 0, sizeof req);
    memcpy(&req.addr, addr, 16);
    req.prefixlen = (uint32_t)prefix_len;
    req.ifindex = (int)index;
    int rc = ioctl(s, SIOCSIFADDR, &req);
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

int cstoq_emu_route_add(const char *name, const uint8_t dst[16], int prefix_len) {
    unsigned index = if_nametoindex(name);
    if (index == 0) return -1;
    int s = control_socket(AF_INET6);
    if (s < 0) return -1;
    struct in6_rtmsg rt;
    memset(&rt, 0, sizeof rt);
    memcpy(&rt.rtmsg_dst, dst, 16);
    rt.rtmsg_dst_len = (uint16_t)prefix_len;
    rt.rtmsg_metric = 1;
    rt.rtmsg_flags = RTF_UP;
    rt.rtmsg_ifindex = (int)index;
    int rc = ioctl(s, SIOCADDRT, &rt);
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

int cstoq_emu_spawn(char *const argv[], const char *stdout_path, const char *stderr_path, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, stdout_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    /* Nothing else of ours: not the trace file, and not a pipe whose end
     * tells our parent we have exited (a program outliving a killed run
     * would hold it open). */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
    /* Own process group, so a timeout kills whatever the command started too;
     * default signal mask and dispositions (ours block or catch SIGINT). */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    /* Programs run under the ordinary scheduler even when the engine runs SCHED_FIFO. */
    struct sched_param normal;
    memset(&normal, 0, sizeof normal);
    posix_spawnattr_setschedpolicy(&attr, SCHED_OTHER);
    posix_spawnattr_setschedparam(&attr, &normal);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                     POSIX_SPAWN_SETSCHEDULER);
    int rc = posix_spawnp(pid, argv[0], &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) { errno = rc; return -1; }
    return 0;
}

int cstoq_emu_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int cstoq_emu_reap(pid_t pid, int *code, int *signal) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r < 0) return -1;
    if (r == 0) return 0;
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    *signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return 1;
}

static int signal_event_fd = -1;
static volatile sig_atomic_t caught_signal = 0;

static void on_signal(int sig) {
    int saved = errno;
    caught_signal = sig;
    uint64_t one = 1;
    if (signal_event_fd >= 0) { ssize_t n = write(signal_event_fd, &one, sizeof one); (void)n; }
    errno = saved;
}

int cstoq_emu_signal_fd(void) {
    if (signal_event_fd < 0) {
        signal_event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (signal_event_fd < 0) return -1;
    }
    caught_signal = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) return -1;
    return signal_event_fd;
}

void cstoq_emu_signal_restore(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int cstoq_emu_signal_caught(void) { return caught_signal; }

void cstoq_emu_eventfd_drain(int fd) {
    uint64_t v;
    while (read(fd, &v, sizeof v) > 0) {}
}

int cstoq_emu_sched_fifo(int priority) {
    struct sched_param p;
    memset(&p, 0, sizeof p);
    p.sched_priority = priority;
    return sched_setscheduler(0, priority > 0 ? SCHED_FIFO : SCHED_OTHER, &p);
}
