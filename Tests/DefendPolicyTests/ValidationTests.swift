import DefendEvents
import Testing
@testable import DefendPolicy

/// Finds the diagnostic at `path` (fails the test when absent).
func diag(_ ds: [PolicyDiagnostic], _ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> PolicyDiagnostic? {
    let d = ds.first { $0.path == path }
    #expect(d != nil, "no diagnostic at \(path); got \(ds.map(\.description))", sourceLocation: sourceLocation)
    return d
}

@Suite struct ErrorPositions {
    @Test func badWildcardNamesLineColumnAndPath() throws {
        let yaml = """
            file:
              selectors:
                - name: a
                  operation: [createFile]
                - name: b
                  targetFilePath: [/usr/bin/**, /usr/sbin*]
                - name: c
                  targetFilePath:
                    - /etc
                    - /a/*/b
              responses:
                - match: [a, b, c]
                  actions: [alert]
            """
        let ds = errors(yaml)
        #expect(ds.count == 2)
        let d1 = try #require(diag(ds, "file.selectors[1].targetFilePath[1]"))
        #expect(d1.line == 6 && d1.column == 37)
        #expect(d1.file == "test.yaml")
        #expect(d1.message.contains("wildcard"))
        let d2 = try #require(diag(ds, "file.selectors[2].targetFilePath[1]"))
        #expect(d2.line == 10 && d2.column == 11)
        #expect(d2.description == "test.yaml:10:11: error: file.selectors[2].targetFilePath[1]: \(d2.message)")
    }

    @Test func unknownOperationAndActionAndSelectorName() throws {
        let yaml = """
            process:
              selectors:
                - name: p
                  operation: [fork, spawn]
              responses:
                - match: [p, q]
                  actions: [log, page]
            """
        let ds = errors(yaml)
        #expect(ds.count == 3)
        let op = try #require(diag(ds, "process.selectors[0].operation[1]"))
        #expect((op.line, op.column) == (4, 25))
        #expect(op.message.contains("unknown operation 'spawn'"))
        let act = try #require(diag(ds, "process.responses[0].actions[1]"))
        #expect((act.line, act.column) == (7, 22))
        let name = try #require(diag(ds, "process.responses[0].match[1]"))
        #expect((name.line, name.column) == (6, 18))
        #expect(name.message == "no process selector is named 'q'")
    }

    @Test func blockWithoutAlertPointsAtActions() throws {
        let yaml = """
            file:
              selectors:
                - name: bins
                  operation: [createExecutable]
              responses:
                - match: [bins]
                  actions: [block]
            """
        let ds = errors(yaml)
        #expect(ds.count == 1)
        let d = try #require(diag(ds, "file.responses[0].actions"))
        #expect((d.line, d.column) == (7, 16))
        #expect(d.message.contains("requires `alert`"))
    }

    @Test func yamlSyntaxErrorHasPosition() throws {
        let ds = errors("file:\n  selectors: [a, b\n  responses: x\n")
        #expect(ds.count == 1)
        #expect(ds[0].line > 0 && ds[0].message.hasPrefix("not valid YAML"))
    }

    @Test func everyErrorIsReportedNotJustTheFirst() {
        let yaml = """
            file:
              selectors:
                - name: a
                  targetFilePath: [relative]
                - name: a
                  containerImageName: [NGINX]
                - operation: [createFile]
              responses:
                - match: [a]
                  actions: [alert, block]
            process:
              selectors:
                - name: x
              responses:
                - match: [a]
                  actions: []
            """
        let paths = Set(errors(yaml).map(\.path))
        #expect(paths.isSuperset(of: [
            "file.selectors[0].targetFilePath[0]", "file.selectors[1].name", "file.selectors[1].containerImageName[0]",
            "file.selectors[2]", "process.selectors[0]", "process.responses[0].actions",
        ]))
    }
}

@Suite struct ValidationRules {
    static let validFile = """
        file:
          selectors:
            - name: s
              operation: [createExecutable]
          responses:
            - match: [s]
              actions: [alert]
        """

    @Test func validPolicyHasNoWarnings() throws {
        let loaded = try PolicyLoader.parse(yaml: Self.validFile)
        #expect(loaded.warnings.isEmpty)
        #expect(loaded.policy.file?.selectors.count == 1 && loaded.policy.process == nil)
    }

    @Test(arguments: [
        ("selector without condition", "file:\n  selectors:\n    - name: s\n  responses:\n    - match: [s]\n      actions: [log]\n", "has no condition"),
        ("empty match", "file:\n  selectors:\n    - name: s\n      operation: [createFile]\n  responses:\n    - match: []\n      actions: [log]\n", "at least one value"),
        ("empty actions", "file:\n  selectors:\n    - name: s\n      operation: [createFile]\n  responses:\n    - match: [s]\n      actions: []\n", "at least one value"),
        ("missing actions", "file:\n  selectors:\n    - name: s\n      operation: [createFile]\n  responses:\n    - match: [s]\n", "no `actions:`"),
        ("no selectors", "file:\n  responses:\n    - match: [s]\n      actions: [log]\n", "no `selectors:`"),
        ("no responses", "file:\n  selectors:\n    - name: s\n      operation: [createFile]\n", "no `responses:`"),
        ("empty selectors", "file:\n  selectors: []\n  responses:\n    - match: [s]\n      actions: [log]\n", "non-empty list"),
        ("neither section", "network:\n  selectors: []\n", "neither a `file:` nor a `process:`"),
        ("other section's operation", "file:\n  selectors:\n    - name: s\n      operation: [exec]\n  responses:\n    - match: [s]\n      actions: [log]\n", "is a process operation"),
        ("process condition in file selector", "file:\n  selectors:\n    - name: s\n      processName: [sh]\n  responses:\n    - match: [s]\n      actions: [log]\n", "file and process selectors never mix"),
        ("file condition in process selector", "process:\n  selectors:\n    - name: s\n      targetFilePath: [/a]\n  responses:\n    - match: [s]\n      actions: [log]\n", "file and process selectors never mix"),
        ("both volume flags", "file:\n  selectors:\n    - name: s\n      ignoreVolumeMounts: true\n      ignoreVolumeFiles: true\n  responses:\n    - match: [s]\n      actions: [log]\n", "cannot be combined"),
        ("image name and full name", "file:\n  selectors:\n    - name: s\n      containerImageName: [nginx]\n      containerImageFullName: [docker.io/nginx]\n  responses:\n    - match: [s]\n      actions: [log]\n", "cannot be combined"),
        ("full name without registry", "file:\n  selectors:\n    - name: s\n      containerImageFullName: [nginx]\n  responses:\n    - match: [s]\n      actions: [log]\n", "must start with a registry"),
        ("full name with tag", "file:\n  selectors:\n    - name: s\n      containerImageFullName: [docker.io/nginx:1.25]\n  responses:\n    - match: [s]\n      actions: [log]\n", "leave out the tag"),
        ("bad image name", "file:\n  selectors:\n    - name: s\n      containerImageName: [my_-image]\n  responses:\n    - match: [s]\n      actions: [log]\n", "not an image name"),
        ("process name too long", "process:\n  selectors:\n    - name: s\n      processName: [abcdefghijklmnop]\n  responses:\n    - match: [s]\n      actions: [log]\n", "at most 15"),
        ("executable not absolute", "process:\n  selectors:\n    - name: s\n      processExecutable: [bin/sh]\n  responses:\n    - match: [s]\n      actions: [log]\n", "not an absolute path"),
        ("trailing slash", "file:\n  selectors:\n    - name: s\n      targetFilePath: [/etc/]\n  responses:\n    - match: [s]\n      actions: [log]\n", "ends with '/'"),
        ("double slash", "file:\n  selectors:\n    - name: s\n      targetFilePath: [/etc//x]\n  responses:\n    - match: [s]\n      actions: [log]\n", "empty component"),
        ("pod label without colon", "file:\n  selectors:\n    - name: s\n      kubernetesPodLabel: [production]\n  responses:\n    - match: [s]\n      actions: [log]\n", "not a label"),
        ("pod name inner wildcard", "file:\n  selectors:\n    - name: s\n      kubernetesPodName: [web-*-x]\n  responses:\n    - match: [s]\n      actions: [log]\n", "only allowed at the end"),
        ("empty value", "file:\n  selectors:\n    - name: s\n      kubernetesNamespace: [\"\"]\n  responses:\n    - match: [s]\n      actions: [log]\n", "must not be empty"),
        ("empty name", "file:\n  selectors:\n    - name: \"\"\n      operation: [createFile]\n  responses:\n    - match: [s]\n      actions: [log]\n", "must not be empty"),
        ("scalar instead of list", "file:\n  selectors:\n    - name: s\n      operation: createFile\n  responses:\n    - match: [s]\n      actions: [log]\n", "must be a list"),
        ("bool condition not bool", "file:\n  selectors:\n    - name: s\n      ignoreVolumeMounts: sometimes\n  responses:\n    - match: [s]\n      actions: [log]\n", "true or false"),
        ("duplicate key", "file:\n  selectors:\n    - name: s\n      operation: [createFile]\n      operation: [deleteFile]\n  responses:\n    - match: [s]\n      actions: [log]\n", "duplicate key"),
        ("duplicate selector", "file:\n  selectors:\n    - name: s\n      operation: [createFile]\n    - name: s\n      operation: [deleteFile]\n  responses:\n    - match: [s]\n      actions: [log]\n", "duplicate selector name"),
        ("top level is a list", "- file: {}\n", "a policy is a mapping"),
    ])
    func rejects(_ what: String, _ yaml: String, _ message: String) {
        let es = errors(yaml)
        #expect(!es.isEmpty, "\(what) was accepted")
        #expect(es.contains { $0.message.contains(message) }, "\(what): \(es.map(\.description))")
        #expect(es.allSatisfy { $0.line > 0 || $0.path.isEmpty }, "\(what): diagnostic without position")
    }

    @Test func selectorOfTheOtherSectionIsNamedAsSuch() throws {
        let yaml = """
            process:
              selectors:
                - name: proc
                  operation: [exec]
              responses:
                - match: [proc]
                  actions: [log]
            file:
              selectors:
                - name: f
                  operation: [createFile]
              responses:
                - match: [f]
                  exclude: [proc]
                  actions: [log]
            """
        let d = try #require(diag(errors(yaml), "file.responses[0].exclude[0]"))
        #expect(d.message == "'proc' is a process selector; a file response can only name file selectors")
        #expect((d.line, d.column) == (14, 17))
    }

    @Test func sixtyFourRulesPerSection() throws {
        func policy(selectors: Int, responses: Int) -> String {
            var y = "file:\n  selectors:\n"
            for i in 0..<selectors { y += "    - name: s\(i)\n      targetFilePath: [/p\(i)]\n" }
            y += "  responses:\n"
            for i in 0..<responses { y += "    - match: [s\(i % selectors)]\n      actions: [log]\n" }
            return y
        }
        #expect(errors(policy(selectors: 60, responses: 4)).isEmpty)
        #expect(throws: Never.self) { try PolicyLoader.parse(yaml: policy(selectors: 63, responses: 1)) }
        let es = errors(policy(selectors: 64, responses: 1))
        #expect(es.count == 1 && es[0].message.contains("at most 64"))
        #expect((es[0].path, es[0].line) == ("file", 2))
    }

    @Test func limitsAreInBytes() {
        func withPath(_ p: String) -> String {
            "file:\n  selectors:\n    - name: s\n      targetFilePath: [\"\(p)\"]\n  responses:\n    - match: [s]\n      actions: [log]\n"
        }
        let p255 = "/" + String(repeating: "a", count: 254)
        let p256 = "/" + String(repeating: "a", count: 255)
        #expect(errors(withPath(p255)).isEmpty)
        #expect(errors(withPath(p256)).first?.message.contains("256 bytes") == true)
        // 'é' is two bytes: 127 of them + "/" = 255 bytes; 128 = 257 bytes.
        #expect(errors(withPath("/" + String(repeating: "é", count: 127))).isEmpty)
        #expect(!errors(withPath("/" + String(repeating: "é", count: 128))).isEmpty)
        // processExecutable allows 511 bytes.
        let exe = "process:\n  selectors:\n    - name: s\n      processExecutable: [\"/\(String(repeating: "x", count: 510))\"]\n  responses:\n    - match: [s]\n      actions: [log]\n"
        #expect(errors(exe).isEmpty)
        #expect(!errors(exe.replacingOccurrences(of: "x\"]", with: "xx\"]")).isEmpty)
        // Selector names: at most 128 characters.
        let longName = String(repeating: "n", count: 129)
        #expect(!errors("file:\n  selectors:\n    - name: \(longName)\n      operation: [createFile]\n  responses:\n    - match: [\(longName)]\n      actions: [log]\n").isEmpty)
    }

    @Test func blockRulesForPlainFileOperations() throws {
        func blocking(_ selector: String, exclude: String = "") -> String {
            """
            file:
              selectors:
                - name: s
            \(selector)
                - name: ex
                  targetFilePath: [/var/lib/app/**]
              responses:
                - match: [s]
            \(exclude)
                  actions: [alert, block]
            """
        }
        // Executable operations may be blocked everywhere.
        #expect(errors(blocking("      operation: [createExecutable, modifyExecutable]")).isEmpty)
        // Plain-file operations (or no operation) need a path...
        let es = errors(blocking("      operation: [deleteFile]"))
        #expect(es.count == 1 && es[0].path == "file.responses[0].match[0]")
        #expect(es[0].message.contains("plain-file operations"))
        #expect(!errors(blocking("      containerImageName: [nginx]")).isEmpty)
        // ...or an exclude selector with one.
        #expect(errors(blocking("      operation: [deleteFile]", exclude: "      exclude: [ex]")).isEmpty)
        #expect(errors(blocking("      operation: [deleteFile]\n      targetFilePath: [/etc/**]")).isEmpty)
        // Under /** it is a warning only.
        let loaded = try PolicyLoader.parse(yaml: blocking("      operation: [modifyFile]\n      targetFilePath: [/**]"))
        #expect(loaded.warnings.filter { $0.message.contains("/**") }.count == 1)
        #expect(loaded.warnings.allSatisfy { $0.severity == .warning })
    }

    @Test func warningsDoNotInvalidate() throws {
        let yaml = """
            version: 3
            file:
              selectors:
                - name: "Exe Changes!"
                  operation: [createExecutable]
                  color: blue
              responses:
                - match: ["Exe Changes!"]
                  actions: [alert]
                  priority: high
              extra: true
            """
        let loaded = try PolicyLoader.parse(yaml: yaml)
        let paths = loaded.warnings.map(\.path)
        #expect(paths == ["version", "file.selectors[0].name", "file.selectors[0].color",
                          "file.responses[0].priority", "file.extra"])
        #expect(loaded.warnings.allSatisfy { $0.severity == .warning && $0.line > 0 })
        #expect(loaded.warnings[0].line == 1 && loaded.warnings[0].column == 1)
    }

    @Test func fleetWrapperIsAccepted() throws {
        let wrapped = """
            policy:
              process:
                selectors:
                  - name: all
                    operation: [exec]
                responses:
                  - match: [all]
                    actions: [log]
            """
        #expect(try policy(wrapped).process?.selectors.map(\.name) == ["all"])
        let inputs = """
            inputs:
              - type: cloud_defend/control
                policy:
                  file:
                    selectors:
                      - name: x
                        operation: [createFile, bogus]
                    responses:
                      - match: [x]
                        actions: [log]
            """
        #expect(errors(inputs).map(\.path) == ["inputs[0].policy.file.selectors[0].operation[1]"])
    }

    @Test func notAPolicyInputsGetClearErrors() throws {
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("whitespace", Array("  \n\n".utf8)),
            ("comment only", Array("# nothing\n".utf8)),
            ("binary", [0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]),
            ("bad utf8", [0x66, 0x69, 0xff, 0xfe]),
            ("scalar", Array("just a string".utf8)),
            ("deep nesting", Array(("file: " + String(repeating: "[", count: 100_000)).utf8)),
            ("two documents", Array((ValidationRules.validFile + "\n---\n" + ValidationRules.validFile).utf8)),
            ("huge", Array(repeating: UInt8(ascii: "#"), count: PolicyLoader.maxInputBytes + 1)),
        ]
        for (what, bytes) in cases {
            do {
                _ = try PolicyLoader.parse(bytes: bytes, fileName: "x.yaml")
                Issue.record("\(what) was accepted")
            } catch {
                #expect(!error.errors.isEmpty, "\(what)")
                #expect(error.errors.allSatisfy { $0.file == "x.yaml" && !$0.message.isEmpty })
            }
        }
        do {
            _ = try PolicyLoader.load(path: "/nonexistent/policy.yaml")
            Issue.record("missing file loaded")
        } catch {
            #expect(error.description == "/nonexistent/policy.yaml: error: no such file")
        }
        #expect(throws: PolicyError.unreadable(file: "/", reason: "is a directory, not a policy file")) {
            try PolicyLoader.load(path: "/")
        }
    }

    @Test func aliasBombIsRefused() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...8 { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        yaml += "file:\n  selectors:\n    - name: s\n      kubernetesNamespace: *a8\n  responses:\n    - match: [s]\n      actions: [log]\n"
        let es = errors(yaml)
        #expect(es.contains { $0.message.contains("too complex") || $0.message.contains("expected a single value") })
    }
}

@Test func aliasedSelectorFloodIsBounded() {
    // 5,000 aliases of one selector: over the rule limit and the node budget, with a bounded report.
    let yaml = "base: &s {name: s, targetFilePath: [/usr/bin*]}\nfile:\n  selectors: [" +
        Array(repeating: "*s", count: 5_000).joined(separator: ", ") + "]\n  responses:\n    - match: [s]\n      actions: [log]\n"
    let ds = diagnostics(yaml)
    #expect(ds.count <= PolicyParser.maxDiagnostics + 1)
    #expect(ds.contains { $0.message.contains("at most 64") })
    #expect(ds.contains { $0.message.contains("too many problems") })
}

@Test func unusedAndSelfExcludingSelectorsWarn() throws {
    let loaded = try PolicyLoader.parse(yaml: """
        file:
          selectors:
            - name: a
              operation: [createFile]
            - name: lonely
              operation: [deleteFile]
          responses:
            - match: [a]
              exclude: [a]
              actions: [log]
        """)
    #expect(loaded.warnings.map(\.path) == ["file.selectors[1]", "file.responses[0].exclude[0]"])
    #expect(loaded.warnings[0].message.contains("not named by any response"))
    #expect((loaded.warnings[1].line, loaded.warnings[1].column) == (9, 17))
}
