#if os(Linux)
import Glibc

/// epoll and timerfd for the real-time driver. Swift's Glibc module does not
/// import <sys/epoll.h> or <sys/timerfd.h>, and this target has no C shim, so
/// the functions are looked up once with dlsym and called through
/// `@convention(c)` pointers (the C ABI, unlike `@_silgen_name`).
enum LinuxEventSyscalls {
    static let epollCloexec = Int32(O_CLOEXEC)
    static let ctlAdd: Int32 = 1, ctlDel: Int32 = 2, ctlMod: Int32 = 3
    static let epollIn: UInt32 = 0x001
    static let timerfdFlags = Int32(O_NONBLOCK | O_CLOEXEC)
    static let timerAbsolute: Int32 = 1   // TFD_TIMER_ABSTIME

    /// `struct epoll_event` is packed on x86-64 (12 bytes) and naturally
    /// aligned elsewhere (16 bytes); it is handled as raw bytes.
    #if arch(x86_64)
    static let eventSize = 12, dataOffset = 4
    #else
    static let eventSize = 16, dataOffset = 8
    #endif

    static let create1: @convention(c) (Int32) -> Int32 = resolve("epoll_create1")
    static let ctl: @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = resolve("epoll_ctl")
    static let wait: @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32 = resolve("epoll_wait")
    static let timerfdCreate: @convention(c) (Int32, Int32) -> Int32 = resolve("timerfd_create")
    static let timerfdSettime: @convention(c) (Int32, Int32, UnsafePointer<itimerspec>?,
                                               UnsafeMutablePointer<itimerspec>?) -> Int32 = resolve("timerfd_settime")

    /// epoll_ctl with EPOLLIN and the fd as user data; returns errno on failure.
    static func control(_ ep: Int32, _ op: Int32, _ fd: Int32) -> Int32? {
        var raw = [UInt8](repeating: 0, count: eventSize)
        let rc = raw.withUnsafeMutableBytes { buf -> Int32 in
            buf.storeBytes(of: epollIn, toByteOffset: 0, as: UInt32.self)
            buf.storeBytes(of: fd, toByteOffset: dataOffset, as: Int32.self)
            return ctl(ep, op, fd, buf.baseAddress)
        }
        return rc == 0 ? nil : errno
    }

    /// The fd stored by `control` in the `index`th event of a wait buffer.
    static func fd(in buffer: UnsafeMutableRawBufferPointer, at index: Int) -> Int32 {
        buffer.loadUnaligned(fromByteOffset: index * eventSize + dataOffset, as: Int32.self)
    }

    private static func resolve<F>(_ name: String) -> F {
        // dlopen(nil) is the global scope, which includes libc.
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else {
            fatalError("libc lacks \(name): the real-time driver needs Linux epoll and timerfd")
        }
        return unsafeBitCast(sym, to: F.self)
    }
}
#endif
