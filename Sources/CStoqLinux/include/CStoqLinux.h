#ifndef CSTOQ_LINUX_H
#define CSTOQ_LINUX_H
/* Linux event syscalls for StoqEngine's real-time driver. Swift's Glibc module
 * does not import <sys/epoll.h> or <sys/timerfd.h>, and struct epoll_event is
 * packed on x86-64, which Swift cannot lay out; these wrappers pass plain ints. */
#include <stdint.h>

/* epoll_create1(EPOLL_CLOEXEC). Returns the fd or -1 (errno set). */
int cstoq_epoll_create(void);

/* Registers/re-registers/removes `fd` for EPOLLIN with the fd as user data.
 * Return 0 or -1 (errno set). */
int cstoq_epoll_add(int epfd, int fd);
int cstoq_epoll_modify(int epfd, int fd);
int cstoq_epoll_remove(int epfd, int fd);

/* epoll_wait that writes the ready fds into `fds` (at most `max`).
 * Returns their count, 0 on timeout, -1 on error (errno set). */
int cstoq_epoll_wait_fds(int epfd, int *fds, int max, int timeout_ms);

/* timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC). */
int cstoq_timerfd_create(void);

/* Arms `tfd` to expire at the absolute CLOCK_MONOTONIC instant `deadline_ns`;
 * a negative deadline disarms it. Returns 0 or -1 (errno set). */
int cstoq_timerfd_set_absolute(int tfd, int64_t deadline_ns);

#endif
