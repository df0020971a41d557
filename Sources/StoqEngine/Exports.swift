// StoqEngine's API speaks StoqCore's types (SimTime, SimDuration,
// RandomStream), which lived here before StoqCore existed: re-exporting them
// keeps every `import StoqEngine` compiling unchanged.
@_exported import StoqCore
