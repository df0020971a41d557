import StoqEngine
import StoqRouting
import StoqTopology

public enum NetworkError: Error, Equatable, CustomStringConvertible {
    case unknownNode(String)
    case unknownLink(String, String)
    case portInUse(node: String, port: UInt16)
    case noFreePort(node: String)

    public var description: String {
        switch self {
        case .unknownNode(let n): return "no node named '\(n)' in the topology"
        case .unknownLink(let a, let b): return "no link between '\(a)' and '\(b)' in the topology"
        case .portInUse(let n, let p): return "port \(p) on node '\(n)' is already bound; close the other socket or pick another port"
        case .noFreePort(let n): return "node '\(n)' has no free port in the dynamic range 49152-65535"
        }
    }
}

/// The simulated network: links with propagation delay, serialization at the
/// link bandwidth, drop-tail queues and the link models (`LinkMiddleware`:
/// loss, corruption, duplication, jitter, MTU), one per direction;
/// store-and-forward routing with `ForwardingTables`; and scheduled faults.
///
/// Each link direction is a FIFO served at its bandwidth, so a packet's arrival
/// time at the far end is known when it enters the link: the network keeps the
/// direction's packets in arrival order and one re-armable timer per direction
/// fires for the earliest. A packet's header waits in the network's
/// `PacketTable` and its payload in one network-wide `PayloadSlab` from send
/// to delivery; link queues carry only an index and what forwarding needs
/// (`InFlight`), so a hop costs no allocation and no copy, whatever the
/// traffic; sockets get the bytes lent (`DatagramIO`), as a batch.
///
/// Keep the network alive while its scheduler runs: the events it schedules
/// hold it unowned (so a network and its scheduler never form a cycle).
public final class Network {
    public let topology: Topology
    public let scheduler: Scheduler
    /// The default strategy, with the file's parameters applied.
    public let strategy: RoutingStrategy
    /// The default strategy and the per-region ones (`routing.regions`).
    public let policy: RoutingPolicy
    /// How long after a link or node changes state the forwarding tables follow
    /// (a routing protocol's detection and convergence time). Until then packets
    /// keep taking the old routes and are lost on the dead link (`linkDown`) or
    /// at the dead node (`nodeDown`). Zero recomputes at the instant of the change.
    public var routeDetectionDelay: SimDuration
    /// Sees every packet and state change. Held strongly (an observer that also
    /// holds the network must be cleared to break the cycle); nil keeps the
    /// packet path free of observation calls.
    public var observer: NetworkObserver?
    /// Takes every datagram that reaches its destination node and finds no
    /// socket bound in the model there (the netns backend writes it to the
    /// node's TUN device; its sockets are real ones). nil: dropped as
    /// `portUnreachable`, as on the sim backend.
    /// The datagram is lent for the call, as to a socket's receive handler.
    public var externalDelivery: ((ReceivedDatagram, _ node: Int32) -> Void)?
    /// Bins link activity over time when set (before the run starts); nil
    /// keeps the packet path free of it.
    public var linkSeries: LinkTimeSeries?
    /// How often link utilisation is measured and fed to `graph.edgeLoad`;
    /// tables are recomputed after each sample when a strategy uses load.
    /// Sampling runs only for such strategies, until the topology's duration.
    public let loadSampleInterval: SimDuration

    /// Current link and node states (indices used by observers and counters).
    public private(set) var graph: RoutingGraph
    /// The routes in force; they lag `graph` by `routeDetectionDelay`.
    public private(set) var tables: ForwardingTables {
        didSet { tablesHaveRecovery = tables.hasRecoveryRoutes }
    }
    /// `tables.hasRecoveryRoutes`, so a send asks no more when there are none.
    private var tablesHaveRecovery: Bool
    public private(set) var counters = NetworkCounters()

    /// Each holds manual storage and a timer slot, freed in deinit.
    private var directions: [LinkDirection]
    /// Headers of every packet in the network (see `PacketTable`).
    private let packets = PacketTable()
    /// Payload bytes of every packet in the network (see `PayloadSlab`).
    private let payloads = PayloadSlab()
    private var sockets: [[UInt16: NetworkSocket]]
    private let nodeByAddress: [IPv6Address: Int32]
    private var nextPacketID: UInt64 = 0
    private var pendingRecompute: SimTime?
    /// Each direction's busy time at the previous load sample.
    private var busyAtLastSample: [Int64] = []
    /// Failures the tables have not followed yet, with what died on them meanwhile.
    private var openOutages: [OutageReport] = []

    /// `seed` drives per-direction loss streams named "link:a>b" (parallel links
    /// between the same pair add "#2", "#3", … in topology order); the other
    /// link models draw from "link:a>b/corrupt", "/duplicate" and "/jitter".
    ///
    /// `strategy` is the default strategy (it gets the parameters of
    /// `topology.routing`); the file's per-region strategies apply on top
    /// (entries `RoutingPolicy.check` would reject are ignored: validate first).
    /// `routeDetectionDelay` nil takes `routing.detection_delay` (default zero).
    public init(topology: Topology, scheduler: Scheduler, seed: UInt64,
                strategy: RoutingStrategy = LatencyStrategy(), routeDetectionDelay: SimDuration? = nil) {
        self.topology = topology
        self.scheduler = scheduler
        self.routeDetectionDelay = routeDetectionDelay ?? topology.routing.detectionDelay ?? .zero
        loadSampleInterval = topology.routing.loadInterval ?? .seconds(1)
        let graph = RoutingGraph(topology: topology)
        self.graph = graph
        var config = topology.routing
        if (try? RoutingPolicy(config: config, graph: graph, strategy: strategy)) == nil { config.regions = [:] }
        policy = (try? RoutingPolicy(config: config, graph: graph, strategy: strategy))
            ?? RoutingPolicy(strategy: strategy, nodeCount: graph.nodeCount)
        self.strategy = policy.defaultStrategy
        tables = ForwardingTables(graph: graph, policy: policy)
        tablesHaveRecovery = tables.hasRecoveryRoutes
        sockets = Array(repeating: [:], count: graph.nodeCount)
        var byAddress: [IPv6Address: Int32] = [:]
        for i in 0..<graph.nodeCount { byAddress[graph.nodeAddresses[i]] = byAddress[graph.nodeAddresses[i]] ?? Int32(i) }
        nodeByAddress = byAddress
        directions = []

        // Each direction's timer calls back into `self`, so they are made once it is whole.
        var seen: [String: Int] = [:]
        directions = (0..<graph.edgeCount).map { e in
            let spec = topology.links[Int(graph.edgeLink[e])]
            var name = "link:" + graph.name(ofEdge: e)
            let n = (seen[name] ?? 0) + 1
            seen[name] = n
            if n > 1 { name += "#\(n)" }
            return LinkDirection(latency: spec.latency.nanoseconds, bitsPerSecond: spec.bandwidthBitsPerSecond,
                                 capacity: spec.queueBytes,
                                 middleware: LinkMiddleware.make(lossRate: spec.lossRate, models: spec.models, seed: seed, stream: name),
                                 timer: scheduler.makeTimerSlot { [unowned self] in self.linkArrival(edge: e) })
        }
        if policy.usesLoad {
            busyAtLastSample = Array(repeating: 0, count: graph.edgeCount)
            scheduleLoadSample()
        }
    }

    deinit {
        for e in directions.indices {
            scheduler.release(directions[e].timer)
            directions[e].deallocate()
        }
    }

    // MARK: Lookup

    public func nodeIndex(named name: String) -> Int32? { graph.index(ofNode: name) }
    public func nodeIndex(of address: IPv6Address) -> Int32? { nodeByAddress[address] }

    /// Counters of one link direction (an edge of `graph`).
    public func counters(edge: Int) -> LinkCounters { directions[edge].counters }
    /// Counters of the first link from `a` to `b` in that direction.
    public func counters(from a: String, to b: String) -> LinkCounters? {
        guard let ia = graph.index(ofNode: a), let ib = graph.index(ofNode: b),
              let e = graph.edge(from: ia, to: ib) else { return nil }
        return directions[e].counters
    }
    /// Bytes waiting or being serialized on `edge` now.
    public func queuedBytes(edge: Int) -> Int {
        directions[edge].releaseSerialized(now: scheduler.now.nanosecondsSinceStart)
        return directions[edge].queuedBytes
    }
    /// Packets on `edge` that have not reached its far end yet.
    public func packetsInFlight(edge: Int) -> Int { directions[edge].packetsInFlight }

    // MARK: Sockets

    /// Binds `port` on `node`; port 0 picks the lowest free port from 49152.
    public func bind(node name: String, port: UInt16) throws -> NetworkSocket {
        let node = try resolveNode(name)
        var chosen = port
        if port == 0 {
            guard let free = (49152...UInt16.max).first(where: { sockets[Int(node)][$0] == nil }) else {
                throw NetworkError.noFreePort(node: name)
            }
            chosen = free
        }
        guard sockets[Int(node)][chosen] == nil else { throw NetworkError.portInUse(node: name, port: chosen) }
        let socket = NetworkSocket(network: self, node: node, address: graph.nodeAddresses[Int(node)], port: chosen)
        sockets[Int(node)][chosen] = socket
        return socket
    }

    func unbind(_ socket: NetworkSocket) {
        if sockets[Int(socket.node)][socket.localPort] === socket { sockets[Int(socket.node)][socket.localPort] = nil }
    }

    // MARK: Packet path

    /// Puts a datagram that `node` sent outside the model (read from its TUN
    /// device) on the network, as a socket bound on `node` would.
    public func inject(_ datagram: Datagram, from node: Int32) {
        datagram.payload.withUnsafeBytes { send(from: node, source: datagram.source, destination: datagram.destination, payload: $0) }
    }

    /// The same with the payload lent for the call (copied into the network's slab).
    public func inject(source: SocketAddress, destination: SocketAddress, payload: UnsafeRawBufferPointer, from node: Int32) {
        send(from: node, source: source, destination: destination, payload: payload)
    }

    /// `payload` is copied into the slab here, the only copy on the way.
    func send(from node: Int32, source: SocketAddress, destination: SocketAddress, payload: UnsafeRawBufferPointer) {
        let now = scheduler.now
        let (slot, stored) = payloads.store(payload)
        var packet = Packet(id: nextPacketID, source: source, destination: destination, payload: stored, slot: slot,
                            sourceNode: node, destinationNode: nodeByAddress[destination.address] ?? -1, sentAt: now)
        nextPacketID &+= 1
        if tables.needsFlowLookup {
            packet.flowHash = FlowHash.hash(source: source.address, sourcePort: source.port,
                                            destination: destination.address, destinationPort: destination.port)
        }
        counters.packetsSent += 1
        counters.bytesSent += UInt64(packet.wireSize)
        let ref = PacketRef(index: packets.insert(packet), destinationNode: packet.destinationNode,
                            wireSize: Int32(packet.wireSize))
        observer?.packetSent(packet, time: now)
        if !graph.nodeUp[Int(node)] { return drop(ref, .nodeDown, at: .node(node)) }
        if ref.destinationNode < 0 { return drop(ref, .unknownDestination, at: .node(node)) }
        if ref.destinationNode != node && tablesHaveRecovery && tables.needsRecovery(from: node, to: ref.destinationNode) {
            counters.recoveryPackets += 1
        }
        if ref.destinationNode == node {
            // Loopback still goes through the scheduler so a receiver never runs
            // inside its sender's `send`.
            scheduler.schedule(at: now) { [unowned self] in self.arrive(ref, at: node) }
            return
        }
        forward(ref, at: node)
    }

    /// The packet is at `node`: deliver it there or pass it on.
    private func arrive(_ ref: PacketRef, at node: Int32) {
        if !graph.nodeUp[Int(node)] { return drop(ref, .nodeDown, at: .node(node)) }
        if ref.destinationNode == node { return deliver(ref, at: node) }
        forward(ref, at: node)
    }

    private func forward(_ ref: PacketRef, at node: Int32) {
        let e: Int32
        if tables.needsFlowLookup {
            let packet = packets[ref.index]
            e = tables.nextEdge(from: node, to: ref.destinationNode, source: packet.sourceNode, flow: packet.flowHash)
        } else {
            e = tables.nextEdge(from: node, to: ref.destinationNode)
        }
        if e < 0 { return drop(ref, .noRoute, at: .node(node)) }
        transmit(ref, on: Int(e))
    }

    private func deliver(_ ref: PacketRef, at node: Int32) {
        let packet = packets[ref.index]
        let socket = sockets[Int(node)][packet.destination.port]
        guard socket != nil || externalDelivery != nil else {
            return drop(ref, .portUnreachable, at: .node(node))
        }
        counters.packetsDelivered += 1
        counters.bytesDelivered += UInt64(packet.wireSize)
        observer?.packetDelivered(packet, time: scheduler.now)
        if let socket {
            if let handler = socket.receiveHandler { DatagramBatch.withSingle(packet.received, handler) }
        } else {
            externalDelivery?(packet.received, node)
        }
        // Freed after the handler: what it sends meanwhile cannot take this slot.
        payloads.release(packets.remove(ref.index).slot)
    }

    /// Offers the packet to link direction `e`.
    private func transmit(_ ref: PacketRef, on e: Int) {
        defer { linkSeries?.offered(edge: e, bytes: Int(ref.wireSize), now: scheduler.now.nanosecondsSinceStart,
                                    busyUntil: directions[e].busyUntil, queuedBytes: directions[e].queuedBytes) }
        if !graph.edgeUp[e] {
            directions[e].countOffered(wireSize: ref.wireSize)
            return drop(ref, .linkDown, at: .link(edge: Int32(e)))
        }
        switch directions[e].enqueue(ref, now: scheduler.now.nanosecondsSinceStart, packets: packets, payloads: payloads) {
        case .queueFull:
            drop(ref, .queueFull, at: .link(edge: Int32(e)))
        case .tooLarge:
            drop(ref, .mtu, at: .link(edge: Int32(e)))
        case .earliest(let arrival):
            scheduler.arm(directions[e].timer, at: SimTime(nanosecondsSinceStart: arrival))
        case .behindOthers:
            break
        }
    }

    /// The timer of direction `e` fired: its earliest packet reached the far end.
    private func linkArrival(edge e: Int) {
        guard let (head, next) = directions[e].popArrival() else { return }
        if let next { scheduler.arm(directions[e].timer, at: SimTime(nanosecondsSinceStart: next)) }
        if head.lost { return drop(head.ref, .loss, at: .link(edge: Int32(e))) }
        if let observer { observer.packetHop(packets[head.ref.index], edge: Int32(e), time: scheduler.now) }
        arrive(head.ref, at: graph.edgeTarget[e])
    }

    private func drop(_ ref: PacketRef, _ reason: DropReason, at location: DropLocation) {
        counters.dropped[reason] += 1
        if case .link(let e) = location {
            directions[Int(e)].countDrop(wireSize: ref.wireSize, reason)
            linkSeries?.dropped(edge: Int(e), now: scheduler.now.nanosecondsSinceStart)
        }
        if !openOutages.isEmpty && (reason == .linkDown || reason == .nodeDown) { chargeOutage(location) }
        if let observer { observer.packetDropped(packets[ref.index], reason: reason, location: location, time: scheduler.now) }
        payloads.release(packets.remove(ref.index).slot)
    }

    /// Bits over bandwidth, rounded to the nearest nanosecond (0 for a link
    /// without a bandwidth, which the parser does not produce).
    public static func serializationTime(bytes: Int, bitsPerSecond: UInt64) -> Int64 {
        guard bitsPerSecond > 0 else { return 0 }
        return Int64((UInt64(bytes) * 8 * 1_000_000_000 + bitsPerSecond / 2) / bitsPerSecond)
    }

    // MARK: Faults

    /// Schedules every link joining `a` and `b` to go up or down at `time`.
    public func setLinkState(_ a: String, _ b: String, up: Bool, at time: SimTime) throws {
        let links = try resolveLinks(a, b)
        scheduler.schedule(at: time) { [unowned self] in for l in links { self.applyLinkState(link: l, up: up) } }
    }

    public func setNodeState(_ name: String, up: Bool, at time: SimTime) throws {
        let node = try resolveNode(name)
        scheduler.schedule(at: time) { [unowned self] in self.applyNodeState(node: node, up: up) }
    }

    /// Schedules the topology's faults (times are from the start of the run).
    /// Every target is checked before anything is scheduled.
    public func scheduleFaults() throws {
        var changes: [(SimTime, Bool, FaultSpec.Target)] = []
        for fault in topology.faults {
            switch fault.target {
            case .link(let a, let b): _ = try resolveLinks(a, b)
            case .node(let n): _ = try resolveNode(n)
            }
            changes.append((.zero + fault.downAt, false, fault.target))
            if let upAt = fault.upAt { changes.append((.zero + upAt, true, fault.target)) }
        }
        for (time, up, target) in changes {
            switch target {
            case .link(let a, let b): try setLinkState(a, b, up: up, at: time)
            case .node(let n): try setNodeState(n, up: up, at: time)
            }
        }
    }

    /// Rebuilds the forwarding tables from the current link and node states
    /// (and loads); reports every failure the new tables now route around.
    public func recomputeRoutes() {
        if let pending = pendingRecompute, pending <= scheduler.now { pendingRecompute = nil }
        tables = ForwardingTables(graph: graph, policy: policy)
        let now = scheduler.now
        observer?.routesRecomputed(time: now)
        let closed = openOutages
        openOutages.removeAll()
        for var outage in closed {
            outage.recomputedAt = now
            observer?.routesReconverged(outage)
        }
    }

    // MARK: Load feedback

    private func scheduleLoadSample() {
        let at = scheduler.now + loadSampleInterval
        guard at <= .zero + topology.duration else { return }
        scheduler.schedule(at: at) { [unowned self] in self.sampleLoad() }
    }

    /// Utilisation over the last interval = serializer busy time / interval per
    /// direction. Busy time is charged when a packet is admitted, so a sample
    /// counts what was admitted in the interval (at most a queue's worth early).
    private func sampleLoad() {
        let interval = Double(loadSampleInterval.nanoseconds)
        var loads = [Double](repeating: 0, count: graph.edgeCount)
        for e in 0..<graph.edgeCount {
            let busy = directions[e].counters.busyTime.nanoseconds
            loads[e] = Double(busy - busyAtLastSample[e]) / interval
            busyAtLastSample[e] = busy
        }
        graph.setLoads(loads)
        // While a failure awaits detection, recomputing would detect it early;
        // the pending recomputation will pick up the new loads.
        if pendingRecompute == nil { recomputeRoutes() }
        scheduleLoadSample()
    }

    private func applyLinkState(link: Int, up: Bool) {
        guard graph.setLinkState(link: link, up: up) else { return }
        if !up {
            openOutages.append(OutageReport(target: .link(link), failedAt: scheduler.now))
            let e = Int(graph.linkForwardEdge[link])
            flush(edge: e, reason: .linkDown)
            flush(edge: Int(graph.edgeReverse[e]), reason: .linkDown)
        }
        observer?.linkStateChanged(link: link, up: up, time: scheduler.now)
        routesChanged()
    }

    private func applyNodeState(node: Int32, up: Bool) {
        guard graph.setNodeState(node, up: up) else { return }
        if !up {
            openOutages.append(OutageReport(target: .node(node), failedAt: scheduler.now))
            // What the node was sending and what was on its way to it both die with it.
            for e in graph.edges(from: node) {
                flush(edge: e, reason: .nodeDown)
                flush(edge: Int(graph.edgeReverse[e]), reason: .nodeDown)
            }
        }
        observer?.nodeStateChanged(node: node, up: up, time: scheduler.now)
        routesChanged()
    }

    private func routesChanged() {
        if routeDetectionDelay <= .zero { return recomputeRoutes() }
        let at = scheduler.now + routeDetectionDelay
        // Changes at the same instant share one recomputation.
        if pendingRecompute == at { return }
        pendingRecompute = at
        scheduler.schedule(at: at) { [unowned self] in self.recomputeRoutes() }
    }

    /// Counts a packet lost to a failure against the open outage it belongs to.
    private func chargeOutage(_ location: DropLocation) {
        for i in openOutages.indices {
            let hit: Bool
            switch (openOutages[i].target, location) {
            case (.link(let l), .link(let e)): hit = Int(graph.edgeLink[Int(e)]) == l
            case (.node(let n), .node(let m)): hit = n == m
            case (.node(let n), .link(let e)): hit = graph.edgeSource[Int(e)] == n || graph.edgeTarget[Int(e)] == n
            case (.link, .node): hit = false
            }
            if hit { openOutages[i].packetsLost += 1; return }
        }
    }

    /// Drops everything queued or in flight on `e` and frees its serializer.
    private func flush(edge e: Int, reason: DropReason) {
        scheduler.cancel(directions[e].timer)
        linkSeries?.flushed(edge: e, now: scheduler.now.nanosecondsSinceStart)
        for f in directions[e].flush(now: scheduler.now.nanosecondsSinceStart) { drop(f.ref, reason, at: .link(edge: Int32(e))) }
    }

    private func resolveNode(_ name: String) throws -> Int32 {
        guard let n = graph.index(ofNode: name) else { throw NetworkError.unknownNode(name) }
        return n
    }

    private func resolveLinks(_ a: String, _ b: String) throws -> [Int] {
        let links = graph.links(between: try resolveNode(a), and: try resolveNode(b))
        if links.isEmpty { throw NetworkError.unknownLink(a, b) }
        return links
    }
}

/// What forwarding needs of a packet, without its header: the index of the
/// header in the `PacketTable` and the two fields every hop reads.
private struct PacketRef {
    var index: PacketTable.Index
    var destinationNode: Int32
    var wireSize: Int32
}

/// One direction of a link: its fixed parameters, its queue and its counters.
/// Each operation is one mutating call, i.e. one exclusive access to the
/// network's array per hop rather than one per field. Fields a hop touches
/// come first, so a hop reads one or two cache lines of it.
///
/// Holds manual storage (`FIFO`): never copied, freed by `deallocate()`.
private struct LinkDirection {
    /// Packets admitted and not yet at the far end, in arrival order.
    var inFlight = FIFO<InFlight>()
    /// Packets whose serialization has not finished: they occupy the queue.
    var serializing = FIFO<Serializing>()
    var queuedBytes = 0
    /// When the serializer finishes everything admitted so far (ns).
    var busyUntil: Int64 = 0
    let latency: Int64
    let bitsPerSecond: UInt64
    let capacity: Int
    /// Fires when the earliest packet in flight reaches the far end.
    let timer: TimerSlot
    var counters = LinkCounters()
    /// The link models around the queue; nil when the link has none.
    var middleware: LinkMiddleware?
    /// Used instead of `inFlight` when jitter lets packets overtake each other.
    var overtaking: ArrivalHeap<InFlight>?

    init(latency: Int64, bitsPerSecond: UInt64, capacity: Int, middleware: LinkMiddleware?, timer: TimerSlot) {
        self.timer = timer
        self.latency = latency
        self.bitsPerSecond = bitsPerSecond
        self.capacity = capacity
        self.middleware = middleware
        if middleware?.reorders == true { overtaking = ArrivalHeap() }
    }

    mutating func deallocate() {
        inFlight.deallocate()
        serializing.deallocate()
    }

    enum Enqueued {
        case queueFull
        /// Larger than the link's MTU.
        case tooLarge
        /// The packet arrives before everything else in flight: the
        /// direction's timer must be (re)armed for `arrival`.
        case earliest(arrival: Int64)
        case behindOthers
    }

    var packetsInFlight: Int { inFlight.count + (overtaking?.count ?? 0) }

    mutating func countOffered(wireSize: Int32) {
        counters.packetsSent += 1
        counters.bytesSent += UInt64(wireSize)
    }

    mutating func countDrop(wireSize: Int32, _ reason: DropReason) {
        counters.dropped[reason] += 1
        counters.bytesDropped += UInt64(wireSize)
    }

    /// MTU and drop-tail admission, a place in the serializer's schedule, then
    /// the link models (which may copy the packet into `packets` and `payloads`).
    mutating func enqueue(_ ref: PacketRef, now: Int64, packets: PacketTable, payloads: PayloadSlab) -> Enqueued {
        countOffered(wireSize: ref.wireSize)
        let size = Int(ref.wireSize)
        if middleware?.admits(wireSize: size) == false { return .tooLarge }
        releaseSerialized(now: now)
        if queuedBytes + size > capacity { return .queueFull }
        let serialization = Network.serializationTime(bytes: size, bitsPerSecond: bitsPerSecond)
        let done = max(now, busyUntil) + serialization
        busyUntil = done
        queuedBytes += size
        serializing.append(Serializing(done: done, bytes: size))
        counters.maxQueuedBytes = max(counters.maxQueuedBytes, queuedBytes)
        counters.busyTime.nanoseconds += serialization
        if middleware != nil {
            return admitThroughModels(ref, arrival: done + latency, packets: packets, payloads: payloads)
        }
        let wasIdle = inFlight.isEmpty
        inFlight.append(InFlight(arrival: done + latency, ref: ref, lost: false))
        return wasIdle ? .earliest(arrival: done + latency) : .behindOthers
    }

    /// Runs the link models on an admitted packet. A lost packet still
    /// occupies the serializer (it is lost on the wire) and is dropped at its
    /// arrival time; a corrupted one has a bit of its payload flipped now; a
    /// duplicate is a second copy in the table and slab, arriving right behind it.
    private mutating func admitThroughModels(_ ref: PacketRef, arrival: Int64, packets: PacketTable,
                                             payloads: PayloadSlab) -> Enqueued {
        let payload = packets[ref.index].payload
        let fate = middleware!.fate(arrival: arrival, payloadBytes: payload.count)
        if let bit = fate.corruptBit, let base = payload.baseAddress {
            // The packet owns its slab slot until delivery or drop.
            UnsafeMutableRawPointer(mutating: base).storeBytes(of: base.load(fromByteOffset: bit / 8, as: UInt8.self) ^ (1 << (bit % 8)),
                                                               toByteOffset: bit / 8, as: UInt8.self)
            counters.corrupted += 1
        }
        if fate.reordered { counters.reordered += 1 }
        let result = place(InFlight(arrival: fate.arrival, ref: ref, lost: fate.lost))
        if fate.duplicated {
            counters.duplicated += 1
            var copy = ref
            copy.index = packets.insert(packets[ref.index].copy(into: payloads))
            _ = place(InFlight(arrival: fate.arrival, ref: copy, lost: false))
        }
        return result
    }

    /// Queues an in-flight packet by arrival time.
    private mutating func place(_ f: InFlight) -> Enqueued {
        if overtaking != nil {
            let earliest = overtaking!.firstArrival.map { f.arrival < $0 } ?? true
            overtaking!.insert(f, arrival: f.arrival)
            return earliest ? .earliest(arrival: f.arrival) : .behindOthers
        }
        let wasIdle = inFlight.isEmpty
        inFlight.append(f)
        return wasIdle ? .earliest(arrival: f.arrival) : .behindOthers
    }

    /// Removes the earliest packet; also returns when the next one arrives.
    mutating func popArrival() -> (InFlight, next: Int64?)? {
        let head: InFlight, next: Int64?
        if overtaking != nil {
            guard let h = overtaking!.popFirst() else { return nil }
            head = h
            next = overtaking!.firstArrival
        } else {
            guard let h = inFlight.popFirst() else { return nil }
            head = h
            next = inFlight.first?.arrival
        }
        if !head.lost {
            counters.packetsDelivered += 1
            counters.bytesDelivered += UInt64(head.ref.wireSize)
        }
        return (head, next)
    }

    /// Frees the queue space of packets whose last bit has left the serializer.
    mutating func releaseSerialized(now: Int64) {
        while let s = serializing.first, s.done <= now {
            queuedBytes -= s.bytes
            _ = serializing.popFirst()
        }
    }

    /// Empties the link (it or an end node failed) and returns what was on it.
    mutating func flush(now: Int64) -> [InFlight] {
        if busyUntil > now {
            // The serialization that will now never happen was already counted as busy.
            counters.busyTime.nanoseconds -= busyUntil - now
            busyUntil = now
        }
        serializing.removeAll()
        queuedBytes = 0
        var lost: [InFlight] = []
        while let f = inFlight.popFirst() { lost.append(f) }
        if overtaking != nil { while let f = overtaking!.popFirst() { lost.append(f) } }
        return lost
    }
}

private struct InFlight {
    var arrival: Int64
    var ref: PacketRef
    /// A loss model said this packet will not arrive.
    var lost: Bool
}

extension Packet {
    /// The same packet with its payload in a slot of its own (a duplicate).
    func copy(into payloads: PayloadSlab) -> Packet {
        let (slot, stored) = payloads.store(payload)
        var copy = Packet(id: id, source: source, destination: destination, payload: stored, slot: slot,
                          sourceNode: sourceNode, destinationNode: destinationNode, sentAt: sentAt)
        copy.flowHash = flowHash
        return copy
    }
}

private struct Serializing {
    var done: Int64
    var bytes: Int
}

/// A bound UDP port on a simulated node.
public final class NetworkSocket: DatagramIO {
    private unowned let network: Network
    public let node: Int32
    public let localAddress: IPv6Address
    public let localPort: UInt16
    public var receiveHandler: ((DatagramBatch) -> Void)?
    public private(set) var isClosed = false

    init(network: Network, node: Int32, address: IPv6Address, port: UInt16) {
        self.network = network
        self.node = node
        localAddress = address
        localPort = port
    }

    public func send(to destination: SocketAddress, _ payload: UnsafeRawBufferPointer) {
        guard !isClosed else { return }
        network.send(from: node, source: socketAddress, destination: destination, payload: payload)
    }

    /// Frees the port; later sends are ignored and nothing more is received.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        receiveHandler = nil
        network.unbind(self)
    }
}
