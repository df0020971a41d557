import StoqEngine
import StoqNetwork

/// Joins a sans-IO `QuicEndpoint` to a `DatagramIO` (simulated network or real
/// socket) and a `Scheduler` (virtual or real-time): arriving datagrams are fed
/// in, deadlines become one re-armed timer, and output is flushed after each.
/// Call `flush()` after application writes made outside event handlers.
public final class EndpointDriver {
    public let endpoint: QuicEndpoint
    public let io: DatagramIO
    public let scheduler: Scheduler
    private var timer: SimTimer?
    /// Runs after every flush (e.g. to top up streams from a file).
    public var afterFlush: (() -> Void)?

    public init(endpoint: QuicEndpoint, io: DatagramIO, scheduler: Scheduler) {
        self.endpoint = endpoint
        self.io = io
        self.scheduler = scheduler
        timer = scheduler.makeTimer { [weak self] in
            guard let self else { return }
            self.endpoint.handleDeadlines(at: self.scheduler.now)
            self.flush()
        }
        io.receiveHandler = { [weak self] datagram in
            guard let self else { return }
            self.endpoint.receive(datagram, at: self.scheduler.now)
            self.flush()
        }
    }

    deinit {
        timer?.cancel()
        io.receiveHandler = nil
    }

    /// Sends what is ready and re-arms the timer at the endpoint's next deadline.
    public func flush() {
        let now = scheduler.now
        endpoint.transmit(at: now) { io.send($0) }
        afterFlush?()
        endpoint.transmit(at: now) { io.send($0) }
        if let d = endpoint.nextDeadline { timer?.arm(at: max(d, now)) } else { timer?.cancel() }
    }
}
