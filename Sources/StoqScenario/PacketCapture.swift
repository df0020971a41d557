import Foundation
import StoqAnalyzer
import StoqEmulation
import StoqEngine
import StoqNetwork
import StoqRouting
import StoqTopology

/// Which packets `--pcap` keeps besides the default (every packet a node
/// sends or receives, at that node).
public struct CaptureSelection: Sendable, Equatable {
    /// Node selectors (`--pcap-nodes`): only these nodes are captured, and
    /// with everything that passes them, forwarded packets included (routers,
    /// cores). Nil: every node, its own packets only.
    public var nodes: [String]?
    /// `--pcap-links`: also one file per link direction, `link-A-to-B.pcapng`,
    /// each packet when it reaches B.
    public var links: Bool

    public init(nodes: [String]? = nil, links: Bool = false) { self.nodes = nodes; self.links = links }
}

/// Writes packets to `DIR/<node>.pcapng` (`stoqsim run --pcap DIR`), framed
/// by `IPv6Packet` (UDP with its checksum; packets the netns backend carries,
/// e.g. ICMPv6, as they were), with nanosecond timestamps of simulated time
/// (the capture starts at the Unix epoch). `CaptureSelection` widens it to
/// routers and link directions.
final class PacketCapture: NetworkObserver {
    private let files: PcapNGFileSet
    private let nodeNames: [String]
    private let graph: RoutingGraph
    /// Node indices captured with what they forward; nil: every node, its own packets.
    private let selected: Set<Int32>?
    private let links: Bool

    init(network: Network, directory: String, selection: CaptureSelection = CaptureSelection(), topology: Topology) throws {
        files = try PcapNGFileSet(directory: directory)
        graph = network.graph
        nodeNames = (0..<network.graph.nodeCount).map { network.graph.name(ofNode: Int32($0)) }
        links = selection.links
        if let selectors = selection.nodes {
            let names = try NodeSelector.resolve(selectors, in: topology,
                                                 at: SourceLocation(file: "--pcap-nodes", line: 1, column: 1))
            selected = Set(names.compactMap { network.graph.index(ofNode: $0) })
        } else {
            selected = nil
        }
    }

    func packetSent(_ packet: Packet, time: SimTime) {
        capture(packet, at: packet.sourceNode, time: time)
    }

    func packetDelivered(_ packet: Packet, time: SimTime) {
        capture(packet, at: packet.destinationNode, time: time)
    }

    /// A packet reached the far end of edge `edge`: a router there forwards it on.
    func packetHop(_ packet: Packet, edge: Int32, time: SimTime) {
        let at = graph.edgeTarget[Int(edge)]
        if let selected, selected.contains(at), at != packet.destinationNode { write(packet, to: nodeNames[Int(at)], time: time) }
        if links {
            let e = Int(edge)
            write(packet, to: "link-\(nodeNames[Int(graph.edgeSource[e])])-to-\(nodeNames[Int(graph.edgeTarget[e])])", time: time)
        }
    }

    private func capture(_ packet: Packet, at node: Int32, time: SimTime) {
        guard node >= 0, selected?.contains(node) ?? true else { return }
        write(packet, to: nodeNames[Int(node)], time: time)
    }

    private func write(_ packet: Packet, to file: String, time: SimTime) {
        files.write(file, packet: IPv6Packet.build(packet.datagram), timestampNs: UInt64(max(time.nanosecondsSinceStart, 0)))
    }

    /// Flushes the buffers; returns the files written.
    func close() throws -> [String] { try files.close() }
}

/// The network has one observer slot; this passes every call on to several.
/// Every `NetworkObserver` method must be forwarded here (the protocol's empty
/// defaults would otherwise swallow a new one silently).
final class ObserverFanOut: NetworkObserver {
    let observers: [NetworkObserver]

    init(_ observers: [NetworkObserver]) { self.observers = observers }

    func packetSent(_ packet: Packet, time: SimTime) { for o in observers { o.packetSent(packet, time: time) } }
    func packetHop(_ packet: Packet, edge: Int32, time: SimTime) { for o in observers { o.packetHop(packet, edge: edge, time: time) } }
    func packetDelivered(_ packet: Packet, time: SimTime) { for o in observers { o.packetDelivered(packet, time: time) } }
    func packetDropped(_ packet: Packet, reason: DropReason, location: DropLocation, time: SimTime) {
        for o in observers { o.packetDropped(packet, reason: reason, location: location, time: time) }
    }
    func linkStateChanged(link: Int, up: Bool, time: SimTime) { for o in observers { o.linkStateChanged(link: link, up: up, time: time) } }
    func nodeStateChanged(node: Int32, up: Bool, time: SimTime) { for o in observers { o.nodeStateChanged(node: node, up: up, time: time) } }
    func routesRecomputed(time: SimTime) { for o in observers { o.routesRecomputed(time: time) } }
    func routesReconverged(_ outage: OutageReport) { for o in observers { o.routesReconverged(outage) } }
}
