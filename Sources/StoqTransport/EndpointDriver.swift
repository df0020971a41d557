import StoqEngine

/// Joins a sans-IO `QuicEndpoint` to a `DatagramIO` (simulated network or real
/// socket) and a `Scheduler` (virtual or real-time): the only path between a
/// carrier and QUIC connections, on every backend, and the only place the
/// application is called from. One loop, run for every batch of arriving
/// datagrams and every timer expiry:
///
///  1. input: the batch (borrowed) or the due deadlines go into the endpoint;
///  2. dispatch: new server connections to `onNewConnection`, then every
///     connection's events to its `onEvent` (looked up per event, so a handler
///     may hand the connection to another), then the endpoint's handshake hooks;
///  3. transmit: each connection with something to send writes its datagrams
///     straight into `io.send(to:_:)`; the events that raised (`.streamWritable`,
///     `.closed`) are dispatched at once, and what their handlers write goes
///     out in the same pass;
///  4. one timer, armed at the endpoint's `pollTimeout()`.
///
/// Handlers never need to flush: their writes leave in step 3. Call `flush()`
/// (steps 3 and 4) after writes made outside the loop, e.g. from a
/// scheduler event of the application's own.
public final class EndpointDriver {
    public let endpoint: QuicEndpoint
    public let io: DatagramIO
    public let scheduler: Scheduler
    /// A slot, not a `Timer`: arming it (after every batch) loads no weak
    /// reference; the driver holds its scheduler, so the slot outlives no one.
    private var timer: TimerSlot?
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
        timer = scheduler.makeTimerSlot { [weak self] in
            guard let self else { return }
            self.endpoint.handleDeadlines(at: self.now)
            self.dispatchAll()
            self.flush()
        }
        io.receiveHandler = { [weak self] batch in
            guard let self else { return }
            self.endpoint.receive(batch, at: self.now)
            self.dispatchAll()
            self.flush()
        }
    }

    private var now: SimTime { max(clock?() ?? scheduler.now, scheduler.now) }

    deinit {
        if let timer { scheduler.release(timer) }
        io.receiveHandler = nil
    }

    /// Sends what is ready (dispatching the events sending raises) and
    /// re-arms the timer at the endpoint's next deadline.
    public func flush() {
        let now = self.now
        let io = self.io
        while let c = endpoint.pollTransmit(at: now, { destination, bytes in io.send(to: destination, bytes) }) {
            dispatch(c)
            if !c.isClosed { c.onTransmitted?() }
        }
        guard let timer else { return }
        if let d = endpoint.pollTimeout() { scheduler.arm(timer, at: max(d, now)) } else { scheduler.cancel(timer) }
    }

    /// Step 2: new connections first (their handlers must be in place), then events in the order connections were called.
    private func dispatchAll() {
        while let c = endpoint.pollAccepted() { endpoint.onNewConnection?(c) }
        while let c = endpoint.pollConnectionWithEvents() { dispatch(c) }
    }

    /// Hands `c`'s waiting events to its handler, looked up per event; with
    /// none installed, the rest stay for `poll()`. Then the endpoint's hooks,
    /// once the connection's handler has seen everything that came with them.
    private func dispatch(_ c: QuicConnection) {
        guard c.onEvent != nil, c.hasEvents else { return }
        var batch = c.takeEvents()
        var completed = false, failure: String?
        for (i, event) in batch.enumerated() {
            guard let handler = c.onEvent else { c.keepEvents(batch[i...]); break }
            handler(event)
            switch event {
            case .handshakeCompleted: completed = true
            case .closed(.handshakeFailed(let why)): failure = why
            default: break
            }
        }
        if completed { endpoint.onHandshakeCompleted?(c) }
        if let failure { endpoint.onHandshakeFailed?(c, failure) }
        endpoint.recycleEvents(&batch)
    }
}
