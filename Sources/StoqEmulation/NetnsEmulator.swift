#if os(Linux)
import CStoqEmulation
import Dispatch
import Glibc
import StoqEngine
import StoqNetwork
import StoqTopology

/// The netns backend's host: one network namespace per node, each with a TUN
/// device holding the node's address and routes into it, relayed through the
/// network model by the real-time driver. One process, no process per node:
/// sockets and TUN devices are opened inside a namespace (setns on this
/// thread, then back) and stay there.
///
/// Packet path: a program in node A's namespace sends to node B's address;
/// the kernel routes it into A's TUN device; the driver reads it, the model
/// carries it (propagation, serialization, queues, loss, forwarding) and at
/// the arrival time `externalDelivery` writes it to B's TUN device, from
/// where B's kernel delivers it to the socket.
///
/// Everything is removed by `shutdown()` (idempotent, also called on
/// deinit and when set-up fails halfway).
public final class NetnsEmulator {
    public struct Options {
        /// Namespace names are `prefix-<node index>`; default `stoq-<pid>-<k>`.
        public var prefix: String?
        /// TUN MTU: an Ethernet-sized one, so programs see the usual limits.
        public var mtu: Int32 = 1500
        /// The node's address as a /128 (true) or with its site's /48.
        public var hostRoutesOnly = true
        public init() {}
    }

    /// Packets relayed and what was set aside.
    public struct RelayStats: Equatable {
        /// Read from TUN devices and handed to the model.
        public var packetsIn: UInt64 = 0
        public var bytesIn: UInt64 = 0
        /// Written to TUN devices at their arrival time.
        public var packetsOut: UInt64 = 0
        public var bytesOut: UInt64 = 0
        /// Read but not for a node of the topology (router solicitations, MLD, …).
        public var ignored: UInt64 = 0
        public var malformed: UInt64 = 0
        public var writeErrors: UInt64 = 0
    }

    public let network: Network
    public let driver: RealTimeDriver
    public let prefix: String
    public let tunName = "stoq0"
    /// Namespace name of each node (by node index).
    public private(set) var namespaceNames: [String] = []
    public private(set) var stats = RelayStats()
    /// Wall-clock seconds spent in set-up and in the last shutdown.
    public private(set) var setupSeconds = 0.0
    public private(set) var teardownSeconds = 0.0

    private let home: HomeNamespace
    private var namespaceFDs: [Int32] = []
    private var tunFDs: [Int32] = []
    private var sockets: [IPv6UDPSocket] = []
    /// Sockets of the run's own workloads (`bindWorkloadSocket`), by node index and port.
    private var workloadSockets: [Int32: [UInt16: IPv6UDPSocket]] = [:]
    private var children: [ChildProcess] = []
    private var readBuffer = [UInt8](repeating: 0, count: 65_536)
    /// The packet being written to a TUN device (reused: no allocation per packet).
    private let writeBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: IPv6Packet.maximumPacketSize, alignment: 8)
    private var isShutDown = false

    /// Creates every node's namespace. `interrupted` is polled between nodes
    /// so SIGINT during a long set-up stops it (and removes what was made).
    public init(network: Network, driver: RealTimeDriver, options: Options = Options(),
                interrupted: () -> Int32 = { 0 }) throws {
        if let reason = Namespaces.unavailableReason() { throw EmulationError.unsupported(reason) }
        self.network = network
        self.driver = driver
        home = try HomeNamespace()
        prefix = options.prefix ?? Namespaces.makeRunPrefix()
        let start = Int64(DispatchTime.now().uptimeNanoseconds)
        do {
            let topology = network.topology
            let routes = Self.routedPrefixes(topology)
            for (i, node) in topology.nodes.enumerated() {
                let signal = interrupted()
                if signal != 0 { throw EmulationError.interrupted(signal: signal) }
                let index = network.nodeIndex(named: node.name).map(Int.init) ?? i
                precondition(index == i, "network node order differs from the topology's")
                try addNode(index: i, spec: node, topology: topology, routes: routes, options: options)
            }
            try waitForAddresses()
        } catch {
            shutdown()
            throw error
        }
        network.externalDelivery = { [unowned self] d, node in self.write(d, to: node) }
        setupSeconds = Double(Int64(DispatchTime.now().uptimeNanoseconds) - start) / 1e9
    }

    deinit {
        shutdown()
        writeBuffer.deallocate()
    }

    /// The whole ULA range (fc00::/7) into the TUN device, plus a host route
    /// for any node address outside it.
    static func routedPrefixes(_ topology: Topology) -> [IPv6Prefix] {
        let ula = IPv6Prefix(address: IPv6Address(high: 0xfc00 << 48, low: 0), length: 7)
        var routes = [ula]
        for n in topology.nodes where !ula.contains(n.address) {
            routes.append(IPv6Prefix(address: n.address, length: 128))
        }
        return routes
    }

    private func addNode(index: Int, spec: NodeSpec, topology: Topology, routes: [IPv6Prefix], options: Options) throws {
        let name = "\(prefix)-\(index)"
        try Namespaces.create(name, home: home)
        namespaceNames.append(name)
        let nsFD = open(Namespaces.path(of: name), O_RDONLY | O_CLOEXEC)
        if nsFD < 0 { throw EmulationError.system(operation: "opening", namespace: name, errno: errno) }
        namespaceFDs.append(nsFD)
        let tun: Int32 = try home.within(nsFD, name: name) {
            func check(_ rc: Int32, _ what: String) throws {
                if rc != 0 { throw EmulationError.system(operation: what, namespace: name, errno: errno) }
            }
            // Duplicate address detection would keep the address unusable for
            // about a second; no other host can claim it here.
            for conf in ["all", "default"] {
                try check(cstoq_emu_write_file("/proc/sys/net/ipv6/conf/\(conf)/accept_dad", "0"), "disabling DAD")
            }
            try check(cstoq_emu_link_up("lo", 0), "bringing lo up")
            let fd = cstoq_emu_tun_open(tunName)
            if fd < 0 { throw EmulationError.system(operation: "creating TUN device \(tunName)", namespace: name, errno: errno) }
            do {
                try check(cstoq_emu_link_up(tunName, options.mtu), "bringing \(tunName) up (MTU \(options.mtu))")
                let length: Int32 = options.hostRoutesOnly ? 128 : Int32(topology.site(named: spec.site)?.prefix.length ?? 128)
                try check(spec.address.bytes.withUnsafeBufferPointer { cstoq_emu_addr_add(tunName, $0.baseAddress, length) },
                          "adding \(spec.address)/\(length)")
                for r in routes {
                    try check(r.address.bytes.withUnsafeBufferPointer { cstoq_emu_route_add(tunName, $0.baseAddress, Int32(r.length)) },
                              "adding route \(r)")
                }
            } catch {
                close(fd)
                throw error
            }
            return fd
        }
        tunFDs.append(tun)
        let node = Int32(index)
        try driver.register(fd: tun) { [unowned self] in self.readTUN(node: node) }
    }

    /// A new address stays tentative for a moment even without DAD (the
    /// kernel finishes it from a work queue) and cannot be bound until then:
    /// wait until every node's address can be, so workloads never see that.
    private func waitForAddresses() throws {
        for (i, node) in network.topology.nodes.enumerated() {
            var attempts = 0
            while true {
                let probe = try? home.within(namespaceFDs[i], name: namespaceNames[i]) {
                    try IPv6UDPSocket(bind: SocketAddress(address: node.address, port: 0))
                }
                if let probe {
                    probe.close()
                    break
                }
                attempts += 1
                if attempts > 5000 {
                    throw EmulationError.system(operation: "waiting for \(node.address) to become usable", namespace: namespaceNames[i], errno: EADDRNOTAVAIL)
                }
                usleep(1000)
            }
        }
    }

    /// Namespace of `node`.
    public func namespace(of node: String) throws -> String {
        guard let i = network.nodeIndex(named: node), Int(i) < namespaceNames.count else { throw EmulationError.unknownNode(node) }
        return namespaceNames[Int(i)]
    }

    // MARK: Sockets and programs

    /// A real UDP socket bound to `node`'s address inside its namespace, watched by the driver.
    public func bind(node: String, port: UInt16) throws -> IPv6UDPSocket {
        let socket = try openSocket(node: node, port: port)
        try socket.attach(to: driver)
        return socket
    }

    /// Like `bind`, but not watched by the driver: for a stand-in of a
    /// program that runs on its own thread (the relay benchmark's senders and
    /// receivers). Closed by `shutdown()`; stop using it before that.
    public func openSocket(node: String, port: UInt16) throws -> IPv6UDPSocket {
        guard let i = network.nodeIndex(named: node), Int(i) < namespaceFDs.count else { throw EmulationError.unknownNode(node) }
        let address = network.topology.nodes[Int(i)].address
        let socket = try home.within(namespaceFDs[Int(i)], name: namespaceNames[Int(i)]) {
            try IPv6UDPSocket(bind: SocketAddress(address: address, port: port))
        }
        // Opened inside the namespace, the socket stays there; it is used from here.
        socket.setBufferSizes(1 << 20)
        sockets.append(socket)
        return socket
    }

    /// A socket for the run's own workloads (the STOQ endpoints, probes, echo
    /// services): like `bind`, but its packets keep the model's instants.
    /// The kernel moves a datagram from `sendto` into the node's TUN queue
    /// before the call returns, and from a TUN `write` into the destination
    /// socket's queue before that call returns; so this socket's sends are
    /// taken from the TUN device and handed to the model at once (at the
    /// instant the endpoint sent them, as on `sim`), and datagrams the model
    /// delivers to it are read right after the TUN write, at the model's
    /// arrival time. Without this the single relay thread would pick both up
    /// only when its epoll loop gets round to them — a delay that depends on
    /// what else the thread is doing and that shifts every packet by a
    /// different amount. Anything the kernel has not handed over by then
    /// (deferred to a softirq thread) still arrives through epoll, later.
    public func bindWorkloadSocket(node: String, port: UInt16) throws -> DatagramIO {
        let socket = try bind(node: node, port: port)
        let index = network.nodeIndex(named: node)!
        workloadSockets[index, default: [:]][socket.localPort] = socket
        return WorkloadSocket(socket: socket, afterSend: { [unowned self] in self.readTUN(node: index) })
    }

    /// Starts `arguments` (PATH search) inside `node`'s namespace with stdout
    /// and stderr appended to the given files; `onExit` runs from the driver
    /// when it ends.
    public func spawn(node: String, arguments: [String], stdoutPath: String, stderrPath: String,
                      onExit: @escaping (ChildProcess.Status) -> Void) throws -> ChildProcess {
        guard let i = network.nodeIndex(named: node), Int(i) < namespaceFDs.count else { throw EmulationError.unknownNode(node) }
        let name = namespaceNames[Int(i)]
        let pid: pid_t = try home.within(namespaceFDs[Int(i)], name: name) {
            var cArgs = arguments.map { strdup($0) }
            cArgs.append(nil)
            defer { for p in cArgs { free(p) } }
            var pid: pid_t = 0
            if cstoq_emu_spawn(&cArgs, stdoutPath, stderrPath, &pid) != 0 {
                throw EmulationError.system(operation: "starting '\(arguments.first ?? "")'", namespace: name, errno: errno)
            }
            return pid
        }
        let child = try ChildProcess(pid: pid, driver: driver, onExit: onExit)
        children.append(child)
        return child
    }

    // MARK: Relay

    private func readTUN(node: Int32) {
        let fd = tunFDs[Int(node)]
        // A batch per wake-up, so one busy node cannot starve the others or the timers.
        for _ in 0..<64 {
            let n = readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            // Parsed in place and handed to the network borrowed: its slab copy is the only one.
            let known = readBuffer.withUnsafeMutableBytes { buffer in
                IPv6Packet.withDatagram(in: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])) { source, destination, payload -> Bool in
                    guard network.nodeIndex(of: destination.address) != nil else { return false }
                    network.inject(source: source, destination: destination, payload: payload, from: node)
                    return true
                }
            }
            switch known {
            case nil: stats.malformed += 1
            case false?: stats.ignored += 1
            case true?:
                stats.packetsIn += 1
                stats.bytesIn += UInt64(n)
            }
        }
    }

    /// Writes what the network delivered to `node` (bytes lent by the network) to its TUN device.
    private func write(_ d: ReceivedDatagram, to node: Int32) {
        guard Int(node) < tunFDs.count else { return }
        guard let length = IPv6Packet.build(source: d.source, destination: d.destination, payload: d.payload, into: writeBuffer) else {
            stats.writeErrors += 1
            return
        }
        let n = Glibc.write(tunFDs[Int(node)], writeBuffer.baseAddress, length)
        if n == length {
            stats.packetsOut += 1
            stats.bytesOut += UInt64(n)
            if let socket = workloadSockets[node]?[d.destination.port], socket.localAddress == d.destination.address {
                socket.drain()
            }
        } else {
            stats.writeErrors += 1
        }
    }

    /// A workload socket: sends go through the kernel and are then relayed at once.
    private final class WorkloadSocket: DatagramIO {
        let socket: IPv6UDPSocket
        let afterSend: () -> Void
        init(socket: IPv6UDPSocket, afterSend: @escaping () -> Void) {
            self.socket = socket
            self.afterSend = afterSend
        }
        var localAddress: IPv6Address { socket.localAddress }
        var localPort: UInt16 { socket.localPort }
        var receiveHandler: ((DatagramBatch) -> Void)? {
            get { socket.receiveHandler }
            set { socket.receiveHandler = newValue }
        }
        func send(to destination: SocketAddress, _ payload: UnsafeRawBufferPointer) {
            socket.send(to: destination, payload)
            afterSend()
        }
    }

    // MARK: Teardown

    /// Kills programs still running, closes sockets and TUN devices and
    /// removes every namespace of this run. Safe to call more than once.
    public func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        let start = Int64(DispatchTime.now().uptimeNanoseconds)
        network.externalDelivery = nil
        for c in children { c.killAndReap() }
        children.removeAll()
        for s in sockets { s.close() }
        sockets.removeAll()
        workloadSockets.removeAll()
        for fd in tunFDs {
            driver.unregister(fd: fd)
            close(fd)
        }
        tunFDs.removeAll()
        // A process we did not start (e.g. a program's own child that left
        // its group) would keep a namespace alive: kill what is inside.
        _ = Namespaces.killProcesses(inNamespacesAt: namespaceNames.map(Namespaces.path(of:)))
        for name in namespaceNames { Namespaces.remove(name) }
        // Anything left under the prefix (a failed set-up step) goes too.
        _ = Namespaces.cleanupLeftovers(prefix: prefix + "-", includeLive: true)
        // Held until the names are gone: a concurrent cleanup takes a namespace
        // whose owner holds none of them for a dead run's.
        for fd in namespaceFDs { close(fd) }
        namespaceFDs.removeAll()
        teardownSeconds = Double(Int64(DispatchTime.now().uptimeNanoseconds) - start) / 1e9
    }
}
#endif
