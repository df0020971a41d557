#include "CStoqLinux.h"
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

int cstoq_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static int control(int epfd, int op, int fd) {
    struct epoll_event ev = {0};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cstoq_epoll_add(int epfd, int fd) { return control(epfd, EPOLL_CTL_ADD, fd); }
int cstoq_epoll_modify(int epfd, int fd) { return control(epfd, EPOLL_CTL_MOD, fd); }
int cstoq_epoll_remove(int epfd, int fd) { return control(epfd, EPOLL_CTL_DEL, fd); }

int cstoq_epoll_wait_fds(int epfd, int *fds, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}

int cstoq_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int cstoq_timerfd_set_absolute(int tfd, int64_t deadline_ns) {
    struct itimerspec spec = {0};
    if (deadline_ns >= 0) {
        /* An all-zero it_value disarms; push a zero deadline to 1 ns. */
        if (deadline_ns == 0) deadline_ns = 1;
        spec.it_value.tv_sec = deadline_ns / 1000000000;
        spec.it_value.tv_nsec = deadline_ns % 1000000000;
    }
    return timerfd_settime(tfd, TFD_TIMER_ABSTIME, &spec, NULL);
}
