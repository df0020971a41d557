// IPv6Address and IPv6Prefix moved to StoqCore (StoqTransport needs them
// without the YAML parser): re-exported so `import StoqTopology` still finds them.
@_exported import StoqCore
