import DefendEvents
import Testing
@testable import DefendPolicy

@Test func defaultPolicyLoadsAndBehaves() throws {
    let p = try DefaultPolicy.load()
    #expect(decide(p, procOp(.exec)).actions == ["log"])
    #expect(decide(p, procOp(.fork)).selectors == ["allProcesses"])
    #expect(decide(p, fileOp(.createExecutable, "/usr/bin/x")).actions == ["alert"])
    #expect(decide(p, fileOp(.createFile, "/tmp/x")).actions == [])
    // Host operations yield nothing in the default scope.
    #expect(decide(p, procOp(.exec, container: nil)).actions == [])
    #expect(decide(p, procOp(.exec, container: nil), scope: .all).actions == ["log"])
}
