import ArgumentParser
import DefendEvents
import DefendPolicy
import Foundation

/// `defend policy …`: validate policy files and dry-run them against operations.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Validate D4C policies and test them against operations without a kernel.",
        subcommands: [PolicyValidateCommand.self, PolicyTestCommand.self])
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

extension PolicyScope: ExpressibleByArgument {}

struct PolicyValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check policy files; exit 0 when all are valid (warnings go to stderr), 1 otherwise.",
        discussion: "Text output: FILE:LINE:COL: error: PATH: MESSAGE (warnings likewise). "
            + "--format json prints one line per file: {\"file\",\"valid\",\"errors\",\"warnings\"}.")

    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Argument(help: "Policy files (YAML).") var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one policy file") }
    }

    func run() throws {
        var allValid = true
        for file in files {
            let (valid, diagnostics): (Bool, [PolicyDiagnostic])
            do {
                let loaded = try PolicyLoader.load(path: file)
                (valid, diagnostics) = (true, loaded.warnings)
            } catch {
                (valid, diagnostics) = (false, error.diagnostics)
            }
            allValid = allValid && valid
            switch format {
            case .text:
                for d in diagnostics { standardError(d.description) }
            case .json:
                func items(_ severity: PolicyDiagnostic.Severity) -> String {
                    PolicyJSON.array(diagnostics.filter { $0.severity == severity }.map { d in
                        PolicyJSON.object([("line", "\(d.line)"), ("column", "\(d.column)"),
                                           ("path", PolicyJSON.string(d.path)), ("message", PolicyJSON.string(d.message))])
                    })
                }
                print(PolicyJSON.object([("file", PolicyJSON.string(file)), ("valid", valid ? "true" : "false"),
                                         ("errors", items(.error)), ("warnings", items(.warning))]))
            }
        }
        if !allValid { throw ExitCode(1) }
    }
}

struct PolicyTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Dry-run a policy: one JSON operation per input line -> one JSON decision per line.",
        discussion: """
            Input lines: {"type":"file"|"process","operation":…,"targetPath":…,"process":{"executable","name"},\
            "sessionLeaderInteractive":bool,"volume":{"inVolumeMount","isFileMount"},"container":{…}|null,\
            "kubernetes":{…}|null}, or ECS documents as the agent writes them. Paths are normalised lexically \
            (//, ., .., trailing /). Output: {"actions":[…],"matched_selectors":[…]} per line; a bad line prints \
            {"error":"line N: …"} and the command exits 1 at the end; an ECS record that is not a policy operation \
            (process end) prints "skipped". Lines end with LF or CRLF; a line longer than 1 MiB is an error. Exit 2: \
            the policy or input cannot be read.
            """)

    @Option(help: "Policy file (YAML).") var policy: String
    @Option(help: "Operations, one JSON object per line ('-' = stdin).") var events: String
    @Option(help: "containers (host operations yield nothing) or all (host operations are evaluated too).")
    var scope: PolicyScope = .containers
    @Flag(help: "Add, per selector, \"matched\" or the condition that failed.") var explain = false

    func run() throws {
        let loaded: LoadedPolicy
        do {
            loaded = try PolicyLoader.load(path: policy)
        } catch {
            for d in error.diagnostics { standardError(d.description) }
            throw ExitCode(2)
        }
        for w in loaded.warnings { standardError(w.description) }
        let compiled = CompiledPolicy(loaded.policy, scope: scope)
        let reference = ReferenceEvaluator(loaded.policy, scope: scope)

        // Streamed line by line in bounded memory; a pipe or `<(…)` works as --events too.
        let fd: Int32
        if events == "-" {
            fd = STDIN_FILENO
        } else {
            fd = open(events, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                standardError("\(events): \(RegularFile.openFailure(errno))")
                throw ExitCode(2)
            }
            var st = stat()
            if fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFDIR {
                standardError("\(events): is a directory, not an events file")
                throw ExitCode(2)
            }
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        var reader = LineReader(fd: fd, maxLineBytes: PolicyTestInput.maxLineBytes)
        let source = events == "-" ? "<stdin>" : events

        var failed = false
        while true {
            let item: LineReader.Item?
            do {
                item = try reader.next()
            } catch {
                standardError("\(source): \(error)")
                throw ExitCode(2)
            }
            guard let item else { break }
            let number: Int, line: String
            switch item {
            case .bad(let n, let message):
                failed = true
                print(PolicyJSON.object([("error", PolicyJSON.string("line \(n): \(message)"))]))
                continue
            case .line(let n, let text):
                (number, line) = (n, text)
            }
            if line.allSatisfy(\.isWhitespace) { continue }
            let event: PolicyEvent
            do {
                event = try PolicyTestInput.parse(line: line)
            } catch where error.notAnOperation {
                // Agent output replayed as input: records such as process `end` are not evaluated.
                print(PolicyJSON.object([("actions", "[]"), ("matched_selectors", "[]"),
                                         ("skipped", PolicyJSON.string(error.message))]))
                continue
            } catch {
                failed = true
                print(PolicyJSON.object([("error", PolicyJSON.string("line \(number): \(error.message)"))]))
                continue
            }
            let verdict = compiled.evaluate(event)
            var pairs: [(String, String)] = [
                ("actions", PolicyJSON.array(verdict.actions.names.map(PolicyJSON.string))),
                ("matched_selectors", PolicyJSON.array(compiled.selectorNames(section: event.section, mask: verdict.selectors)
                    .map(PolicyJSON.string))),
            ]
            if explain {
                let outcomes = reference.evaluate(event).outcomes
                pairs.append(("explain", PolicyJSON.object(outcomes.map { ($0.name, PolicyJSON.string($0.failure ?? "matched")) })))
            }
            print(PolicyJSON.object(pairs))
        }
        if failed { throw ExitCode(1) }
    }
}

func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
