#if os(Linux)
import CStoqEmulation
import Glibc
import StoqEngine

/// A program started inside a node's namespace. Its exit is noticed through a
/// pidfd registered with the real-time driver, so no thread waits for it.
public final class ChildProcess {
    public struct Status: Equatable, CustomStringConvertible {
        /// Exit code, or nil when a signal ended it.
        public var exitCode: Int32?
        public var signal: Int32?
        /// It was killed because its time ran out.
        public var timedOut: Bool

        public var description: String {
            if timedOut { return "killed after its timeout" }
            if let exitCode { return "exit \(exitCode)" }
            return "killed by signal \(signal ?? 0)"
        }
    }

    public let pid: pid_t
    public private(set) var status: Status?
    private let pidFD: Int32
    private unowned let driver: RealTimeDriver
    private var onExit: ((Status) -> Void)?
    private var killedForTimeout = false

    init(pid: pid_t, driver: RealTimeDriver, onExit: @escaping (Status) -> Void) throws {
        self.pid = pid
        self.driver = driver
        self.onExit = onExit
        pidFD = cstoq_emu_pidfd_open(pid)
        if pidFD < 0 {
            let e = errno
            kill(-pid, SIGKILL)
            var code: Int32 = 0, sig: Int32 = 0
            while cstoq_emu_reap(pid, &code, &sig) == 0 { usleep(1000) }
            throw EmulationError.system(operation: "pidfd_open", namespace: nil, errno: e)
        }
        try driver.register(fd: pidFD) { [unowned self] in self.reap() }
    }

    /// Kills the program and everything in its process group because its time ran out.
    public func timeOut() {
        guard status == nil else { return }
        killedForTimeout = true
        kill(-pid, SIGKILL)
    }

    private func reap() {
        var code: Int32 = 0, sig: Int32 = 0
        guard status == nil, cstoq_emu_reap(pid, &code, &sig) == 1 else { return }
        finish(code: code, signal: sig)
    }

    private func finish(code: Int32, signal: Int32) {
        driver.unregister(fd: pidFD)
        close(pidFD)
        let s = Status(exitCode: signal == 0 ? code : nil, signal: signal == 0 ? nil : signal, timedOut: killedForTimeout)
        status = s
        let handler = onExit
        onExit = nil
        handler?(s)
    }

    /// Teardown: kills the group if still running and waits for the program.
    func killAndReap() {
        guard status == nil else { return }
        kill(-pid, SIGKILL)
        var code: Int32 = 0, sig: Int32 = 0
        var r: Int32 = 0
        repeat {
            r = cstoq_emu_reap(pid, &code, &sig)
            if r == 0 { usleep(1000) }
        } while r == 0
        if r == 1 {
            onExit = nil   // the run is over: nothing may be traced any more
            finish(code: code, signal: sig)
        }
    }
}

/// SIGINT and SIGTERM as a descriptor the driver watches: the handler only
/// writes to an eventfd, and the run stops cleanly and removes its namespaces.
/// Made before the first namespace, so no signal can kill the process while
/// something of the run exists.
public final class InterruptWatch {
    private let fd: Int32
    private weak var driver: RealTimeDriver?
    private var isClosed = false
    /// The signal that arrived (0: none).
    public var signal: Int32 { cstoq_emu_signal_caught() }

    /// Installs the handlers; a signal from now on is only recorded.
    public init() throws {
        fd = cstoq_emu_signal_fd()
        if fd < 0 { throw EmulationError.system(operation: "installing SIGINT/SIGTERM handlers", namespace: nil, errno: errno) }
        cstoq_emu_eventfd_drain(fd)   // a previous run's late signal must not stop this one (the flag was reset)
    }

    public convenience init(driver: RealTimeDriver) throws {
        try self.init()
        try watch(driver)
    }

    /// Makes a signal stop `driver`; one that came earlier left the eventfd
    /// readable, so it stops the driver as soon as it runs.
    public func watch(_ driver: RealTimeDriver) throws {
        self.driver = driver
        try driver.register(fd: fd) { [unowned driver, fd] in
            cstoq_emu_eventfd_drain(fd)
            driver.stop()
        }
    }

    /// Back to the default actions (the eventfd is kept for the next run).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        driver?.unregister(fd: fd)
        cstoq_emu_signal_restore()
    }

    deinit { close() }
}
#endif
