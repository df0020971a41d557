import Foundation

/// stderr for diagnostics and progress, so stdout stays clean for data.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
