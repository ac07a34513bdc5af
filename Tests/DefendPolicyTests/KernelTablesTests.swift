import DefendEvents
import Testing
@testable import DefendPolicy

/// The exact table contents the kernel sensor copies into its maps.
@Test func tablesHaveTheDocumentedShape() throws {
    let p = try policy("""
        file:
          selectors:
            - name: bins
              operation: [createExecutable, modifyExecutable]
              targetFilePath: [/usr/bin/**, /usr/sbin/*]
            - name: etc
              targetFilePath: [/etc/passwd, /usr/bin/**]
              ignoreVolumeFiles: true
            - name: nginx
              containerImageName: [nginx]
              ignoreVolumeMounts: true
          responses:
            - match: [bins, etc]
              exclude: [nginx]
              actions: [alert, block]
        process:
          selectors:
            - name: all
              operation: [fork, exec]
            - name: tty
              sessionLeaderInteractive: true
              processName: [sh, bash]
            - name: batch
              sessionLeaderInteractive: false
              processExecutable: [/**]
          responses:
            - match: [all]
              actions: [log]
            - match: [tty]
              actions: [alert]
        """)
    let t = CompiledPolicy(p).tables
    #expect(t.opMask == [0b111, 0b111, 0b110, 0b110, 0b110, 0b111, 0b111])
    #expect(t.pathAnyMask == [0b100, 0b011])
    #expect(t.nameAnyMask == 0b101)
    #expect(t.interactiveMask == [0b101, 0b011])
    #expect(t.volumeOkMask == 0b011)
    #expect(t.fileMountOkMask == 0b001)
    #expect(t.hostMask == [0, 0])
    // file selector 2 has container conditions and only excludes from a blocking response: assumed to
    // match while a container's metadata is not known (a pod it would spare is not blocked meanwhile)
    #expect(t.unknownContainerMask == [0b111, 0b111])
    #expect(t.responses[0] == [KernelTables.Response(match: 0b011, exclude: 0b100, actions: [.alert, .block])])
    #expect(t.responses[1] == [KernelTables.Response(match: 0b001, exclude: 0, actions: .log),
                               KernelTables.Response(match: 0b010, exclude: 0, actions: .alert)])
    let entries = Set(t.pathEntries)
    #expect(entries == [
        KernelTables.PathEntry(section: .file, kind: .descendant, string: "/usr/bin", mask: 0b011),
        KernelTables.PathEntry(section: .file, kind: .child, string: "/usr/sbin", mask: 0b001),
        KernelTables.PathEntry(section: .file, kind: .exact, string: "/etc/passwd", mask: 0b010),
        KernelTables.PathEntry(section: .process, kind: .name, string: "sh", mask: 0b010),
        KernelTables.PathEntry(section: .process, kind: .name, string: "bash", mask: 0b010),
        KernelTables.PathEntry(section: .process, kind: .descendant, string: "", mask: 0b100),
        // directories whose rename/rmdir moves the file patterns' names (file section only)
        KernelTables.PathEntry(section: .file, kind: .ancestor, string: "/usr", mask: 0b011),
        KernelTables.PathEntry(section: .file, kind: .ancestor, string: "/usr/bin", mask: 0b011),
        KernelTables.PathEntry(section: .file, kind: .ancestor, string: "/usr/sbin", mask: 0b001),
        KernelTables.PathEntry(section: .file, kind: .ancestor, string: "/etc", mask: 0b010),
    ])
    #expect(t.pathEntries.count == entries.count, "one entry per (section, kind, string)")
    #expect(t.pathEntries.first { $0.string == "" }?.hash == FNV1a.offset)
    // FNV-1a 64 reference value.
    #expect(FNV1a.hash("a".utf8) == 0xaf63_dc4c_8601_ec8c)
}

@Test func selectorNamesByBit() throws {
    let compiled = CompiledPolicy(try DefaultPolicy.load())
    #expect(compiled.selectorName(section: .process, bit: 0) == "allProcesses")
    #expect(compiled.selectorName(section: .file, bit: 0) == "executableChanges")
    #expect(compiled.selectorName(section: .file, bit: 1) == nil)
    #expect(compiled.selectorName(section: .file, bit: -1) == nil)
    #expect(compiled.selectorNames(section: .process, mask: ~0) == ["allProcesses"])
}

@Test func sixtyFourSelectorsUseEveryBit() throws {
    var y = "file:\n  selectors:\n"
    for i in 0..<63 { y += "    - name: s\(i)\n      targetFilePath: [/d\(i)/*]\n" }
    y += "  responses:\n    - match: [s62, s0]\n      actions: [alert]\n"
    let compiled = CompiledPolicy(try policy(y))
    let v = compiled.evaluate(fileOp(.createFile, "/d62/x"))
    #expect(v.selectors == 1 << 62 && v.actions == .alert)
    #expect(compiled.selectorNames(section: .file, mask: v.selectors) == ["s62"])
}

/// The kernel judges reads as execs only when a process block could name an executable: a block
/// by name alone, an alert on an executable, or a file block do not turn that on.
@Test func readsAreJudgedAsExecsOnlyForBlocksThatNameExecutables() throws {
    func flag(_ yaml: String) throws -> Bool { CompiledPolicy(try policy(yaml)).tables.blocksExecutablesByPath }
    #expect(try flag("""
        process:
          selectors:
            - name: tools
              processExecutable: [/usr/local/bin/**]
          responses:
            - match: [tools]
              actions: [alert, block]
        """))
    #expect(try !flag("""
        process:
          selectors:
            - name: tools
              processExecutable: [/usr/local/bin/**]
            - name: shells
              processName: [sh]
          responses:
            - match: [tools]
              actions: [alert]
            - match: [shells]
              actions: [alert, block]
        file:
          selectors:
            - name: etc
              targetFilePath: [/etc/**]
          responses:
            - match: [etc]
              actions: [alert, block]
        """))
    #expect(try !flag("""
        process:
          selectors:
            - name: all
              operation: [exec]
          responses:
            - match: [all]
              actions: [log]
        """))
}
