// SocketAddress, Datagram and the DatagramIO seam moved to StoqCore (so
// StoqTransport needs neither this module nor the topology parser):
// re-exported so `import StoqNetwork` still finds them.
@_exported import StoqCore
