import DefendEvents
import Dispatch
import Foundation
import Testing
@testable import DefendPolicy

/// Hostile or careless policy files (issue 10, hardening): each test reproduces a reported failure.
@Suite struct PolicyFileHardeningTests {
    static func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "defend-hard-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs `body` on another thread and waits at most `seconds`: a hang is a test failure, not a hung suite.
    static func finishes<T: Sendable>(within seconds: Double, _ body: @escaping @Sendable () -> T) -> T? {
        let done = DispatchSemaphore(value: 0)
        let box = Box<T>()
        Thread.detachNewThread { box.value = body(); done.signal() }
        return done.wait(timeout: .now() + seconds) == .success ? box.value : nil
    }

    final class Box<T>: @unchecked Sendable { var value: T? }

    /// A FIFO in place of the policy file used to block the reader until someone wrote to it.
    @Test func fifoPolicyIsRefusedAtOnce() throws {
        let path = try Self.tempDir() + "/policy.yaml"
        #expect(mkfifo(path, 0o600) == 0)
        let result = Self.finishes(within: 10) { () -> String in
            do {
                _ = try PolicyLoader.load(path: path)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        if result == nil {
            // Unblock the stuck reader so the process can finish.
            let fd = open(path, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        let message = try #require(result, "loading a FIFO blocked")
        #expect(message == "\(path): error: is a FIFO (named pipe), not a regular file; a policy must be a regular file")
    }

    @Test func symlinkLoopIsNamed() throws {
        let dir = try Self.tempDir()
        #expect(symlink(dir + "/b", dir + "/a") == 0)
        #expect(symlink(dir + "/a", dir + "/b") == 0)
        #expect(throws: PolicyError.unreadable(file: dir + "/a", reason: "too many levels of symbolic links (a symlink loop?)")) {
            try PolicyLoader.load(path: dir + "/a")
        }
        // A dangling link is a missing file.
        #expect(symlink(dir + "/nowhere", dir + "/c") == 0)
        #expect(throws: PolicyError.unreadable(file: dir + "/c", reason: "no such file")) {
            try PolicyLoader.load(path: dir + "/c")
        }
    }

    @Test(arguments: [true, false]) func utf16IsNamed(bom: Bool) throws {
        let path = try Self.tempDir() + "/policy.yaml"
        var bytes: [UInt8] = bom ? [0xFF, 0xFE] : []
        for unit in "process:\n  selectors: []\n".utf16 { bytes += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try PolicyLoader.load(path: path)
            Issue.record("a UTF-16 file loaded")
        } catch {
            let message = error.description
            #expect(message.contains("UTF-16 (little-endian)"), "\(message)")
            #expect(!message.contains("binary"))
        }
    }

    /// Framework error dumps and libyaml internals never reach the user.
    @Test(arguments: [
        "file: [\n", "file:\n\t- a\n", "file: {a: 1\n", "file: *nope\n", "a: 1\n---\nb: 2\n", "file: !!binary 123\n",
        "\u{7}file: x\n", "key: 'unterminated\n", "- a\nb: c\n",
    ]) func yamlErrorsArePlainSentences(yaml: String) throws {
        let found = diagnostics(yaml)
        #expect(!found.isEmpty)
        for d in found {
            #expect(!d.message.contains("Domain"), "\(d)")
            #expect(!d.message.contains("yaml_"), "\(d)")
            #expect(!d.message.contains("YamlError"), "\(d)")
            #expect(!d.message.contains("\n"), "one line: \(d)")
        }
    }

    /// A 524-byte document of aliases used as a mapping key took 19 s (one more level: hours) in Yams'
    /// key hashing. The event-stream prescan refuses it before anything is composed.
    @Test(.timeLimit(.minutes(1))) func aliasBombAsMappingKeyIsRefusedQuickly() throws {
        var yaml = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        for (prev, name) in zip(names, names.dropFirst()) {
            yaml += "\(name): &\(name) [" + Array(repeating: "*\(prev)", count: 9).joined(separator: ",") + "]\n"
        }
        yaml += "? *i\n: x\n"
        #expect(yaml.utf8.count < 600)
        let bomb = yaml
        let found = try #require(Self.finishes(within: 10) { diagnostics(bomb) }, "the alias bomb was composed")
        #expect(found.contains { $0.message.contains("aliases expand to more than 100000 nodes") }, "\(found)")
        // A collection key is refused at its position, even a small one.
        let key = diagnostics("x: &x [a]\n? *x\n: 1\n")
        #expect(key.contains { $0.line == 2 && $0.column == 3 && $0.message.contains("a key must be a plain name") }, "\(key)")
    }

    /// Anchors and aliases of ordinary size still work.
    @Test func ordinaryAliasesStillLoad() throws {
        let p = try policy("""
            process:
              selectors:
                - name: a
                  operation: &ops [fork, exec]
                - name: b
                  operation: *ops
                  processName: [sh]
              responses:
                - match: [a, b]
                  actions: [log]
            """)
        #expect(p.process?.selectors.count == 2)
    }

    /// Every duplicate key is reported at the key itself (Yams reported the first one only, at the
    /// mapping's start).
    @Test func everyDuplicateKeyAtItsPosition() {
        let yaml = """
            file:
              selectors:
                - name: a
                  operation: [createFile]
                  name: b
                  operation: [modifyFile]
              responses:
                - match: [a]
                  actions: [log]
            file: {}
            """
        let found = errors(yaml)
        #expect(found.count == 3, "\(found)")
        #expect(found.contains { $0.line == 5 && $0.column == 7 && $0.message == "duplicate key 'name' (first at line 3, column 7)" })
        #expect(found.contains { $0.line == 6 && $0.column == 7 && $0.message == "duplicate key 'operation' (first at line 4, column 7)" })
        #expect(found.contains { $0.line == 10 && $0.column == 1 && $0.message.hasPrefix("duplicate key 'file'") })
    }

    static func pathsPolicy(_ count: Int, names: Int = 0) -> String {
        var yaml = "file:\n  selectors:\n    - name: many\n      targetFilePath:\n"
        for i in 0..<count { yaml += "        - /data/f\(i)\n" }
        yaml += "  responses:\n    - match: [many]\n      actions: [log]\n"
        if names > 0 {
            yaml += "process:\n  selectors:\n    - name: procs\n      processName:\n"
            for i in 0..<names { yaml += "        - p\(i)\n" }
            yaml += "  responses:\n    - match: [procs]\n      actions: [log]\n"
        }
        return yaml
    }

    /// 10,000 paths validated and then failed with E2BIG; 5,000 started but could never be reloaded.
    /// The limit is one generation's half of the kernel map, counted as the compiler counts entries.
    @Test func policiesTheKernelCannotHoldAreRefused() throws {
        #expect(KernelCapacity.pathEntries == 8192)
        #expect(KernelCapacity.pathEntriesPerPolicy == 4096)
        // /data/fN paths also compile to one `ancestor` entry for /data (renames of the tree).
        let fits = try policy(Self.pathsPolicy(3999, names: 96))
        #expect(CompiledPolicy(fits, scope: .containers).tables.pathEntries.count == 4096)

        for (paths, names) in [(4096, 0), (3999, 97), (5000, 0), (10_000, 0)] {
            let found = errors(Self.pathsPolicy(paths, names: names))
            let expected = "the policy needs \(paths + names + 1) kernel path entries (distinct paths, directories and process names); "
                + "the kernel map holds 8192, shared by the policy in force and the one that replaces it on reload, "
                + "so one policy may use at most 4096 (the limit is crossed at this selector)"
            #expect(found.map(\.message) == [expected], "\(paths)+\(names)")
        }
        // Repeated strings are one entry (the kernel merges them too).
        let repeated = Self.pathsPolicy(3999).replacingOccurrences(of: "/data/f1", with: "/data/f0")
        #expect(errors(repeated).isEmpty)
    }
}

/// `defend policy test` input: bounded lines, CRLF, line numbers.
@Suite struct LineReaderTests {
    static func items(_ bytes: [UInt8], max: Int = 16) throws -> [LineReader.Item] {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let writer = fds[1]
        let data = bytes
        let thread = Thread {
            data.withUnsafeBytes { b in
                var off = 0
                while off < b.count {
                    let n = write(writer, b.baseAddress! + off, b.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
            close(writer)
        }
        thread.start()
        var reader = LineReader(fd: fds[0], maxLineBytes: max)
        var out: [LineReader.Item] = []
        while let item = try reader.next() { out.append(item) }
        close(fds[0])
        return out
    }

    @Test func crlfAndLastLineWithoutNewline() throws {
        #expect(try Self.items(Array("a\r\nb\r\n\r\nc".utf8)) == [
            .line(number: 1, text: "a"), .line(number: 2, text: "b"), .line(number: 3, text: ""), .line(number: 4, text: "c"),
        ])
    }

    @Test func tooLongLinesAreReportedAndSkipped() throws {
        let long = String(repeating: "x", count: 200_000)
        let got = try Self.items(Array("ok\n\(long)\nafter\n\(long)".utf8))
        #expect(got == [
            .line(number: 1, text: "ok"),
            .bad(number: 2, message: "the line is 200000 bytes long; at most 16 are allowed"),
            .line(number: 3, text: "after"),
            .bad(number: 4, message: "the line is 200000 bytes long; at most 16 are allowed"),
        ])
        // Exactly the limit is fine, with or without CR.
        let sixteen = String(repeating: "y", count: 16)
        #expect(try Self.items(Array("\(sixteen)\r\n\(sixteen)\n".utf8)) == [.line(number: 1, text: sixteen), .line(number: 2, text: sixteen)])
        #expect(try Self.items(Array("\(sixteen)z\n".utf8)) == [.bad(number: 1, message: "the line is 17 bytes long; at most 16 are allowed")])
    }

    @Test func invalidUTF8IsNamed() throws {
        #expect(try Self.items([0x61, 0x0A, 0xFF, 0xFE, 0x0A]) == [.line(number: 1, text: "a"), .bad(number: 2, message: "the line is not valid UTF-8")])
    }
}
