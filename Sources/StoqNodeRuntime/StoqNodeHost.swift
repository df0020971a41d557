import StoqEngine
import StoqTopology
import StoqTransport

/// What a run gives its nodes' STOQ endpoints: the topology, the clock,
/// seeded randomness, sockets on the run's backend and each node's QUIC
/// settings. `StoqServices` makes endpoints from it and nothing else, so the
/// node runtime does not depend on workloads or the runner (StoqScenario's
/// `ScenarioContext` is the host of every run).
package protocol StoqNodeHost: AnyObject {
    var topology: Topology { get }
    var scheduler: Scheduler { get }
    /// Where every QUIC connection writes its qlog (`run --qlog`); nil: none.
    var qlogDirectory: String? { get }
    /// A seeded random stream private to `name` (a node's endpoint: "quic:NODE").
    func randomStream(_ name: String) -> RandomStream
    /// A socket for `node` on `port`, on the run's backend.
    func bind(node: String, port: UInt16) throws -> DatagramIO
    /// The QUIC settings of `node`'s endpoint (the topology's and the node's `transport` sections).
    func endpointConfiguration(for node: NodeSpec) throws -> TransportConfiguration
}
