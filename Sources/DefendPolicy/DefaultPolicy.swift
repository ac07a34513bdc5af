/// The policy D4C ships by default: process telemetry for every fork/exec (log) and drift
/// detection (alert on created or modified executables).
public enum DefaultPolicy {
    public static let name = "default"

    public static let yaml = """
        process:
          selectors:
            - name: allProcesses
              operation: [fork, exec]
          responses:
            - match: [allProcesses]
              actions: [log]
        file:
          selectors:
            - name: executableChanges
              operation: [createExecutable, modifyExecutable]
          responses:
            - match: [executableChanges]
              actions: [alert]

        """

    /// The parsed default policy (it is valid; a failure here is a programming error caught by tests).
    public static func load() throws(PolicyError) -> Policy {
        try PolicyLoader.parse(yaml: yaml, fileName: "<default policy>").policy
    }
}
