import StoqEngine

/// Joins a sans-IO `QuicEndpoint` to a `DatagramIO` (simulated network or real
/// socket) and a `Scheduler` (virtual or real-time): the only path between a
/// carrier and QUIC connections, on every backend. Each batch of arriving
/// datagrams is fed in borrowed, deadlines become one re-armed timer, and
/// output is flushed after each straight into `io.send(to:_:)` from the
/// endpoint's send buffer. Call `flush()` after application writes made
/// outside event handlers.
public final class EndpointDriver {
    public let endpoint: QuicEndpoint
    public let io: DatagramIO
    public let scheduler: Scheduler
    private var timer: SimTimer?
    /// Runs after every flush's transmission (e.g. to top up streams from a
    /// file); whatever it writes is sent in the same flush.
    public var afterFlush: (() -> Void)?
    /// Where "now" comes from; nil: `scheduler.now`. On the real-time backend
    /// the scheduler's clock stands still while a handler runs and does not
    /// pass a pending timer, so RTT samples on a fast path (loopback) read as
    /// zero; giving the wall clock in SimTime terms here keeps them true.
    public var clock: (() -> SimTime)?

    public init(endpoint: QuicEndpoint, io: DatagramIO, scheduler: Scheduler, clock: (() -> SimTime)? = nil) {
        self.endpoint = endpoint
        self.io = io
        self.scheduler = scheduler
        self.clock = clock
        timer = scheduler.makeTimer { [weak self] in
            guard let self else { return }
            self.endpoint.handleDeadlines(at: self.now)
            self.flush()
        }
        io.receiveHandler = { [weak self] batch in
            guard let self else { return }
            self.endpoint.receive(batch, at: self.now)
            self.flush()
        }
    }

    private var now: SimTime { max(clock?() ?? scheduler.now, scheduler.now) }

    deinit {
        timer?.cancel()
        io.receiveHandler = nil
    }

    /// Sends what is ready and re-arms the timer at the endpoint's next deadline.
    public func flush() {
        let now = self.now
        transmit(at: now)
        if let afterFlush {
            afterFlush()
            // Only what `afterFlush` wrote is left to send.
            if endpoint.hasPendingTransmit { transmit(at: now) }
        }
        if let d = endpoint.nextDeadline { timer?.arm(at: max(d, now)) } else { timer?.cancel() }
    }

    private func transmit(at now: SimTime) {
        let io = self.io
        endpoint.transmitBytes(at: now) { destination, bytes in io.send(to: destination, bytes) }
    }
}
