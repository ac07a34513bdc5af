import Testing
@testable import DefendAgent

@Test func DefendAgentModuleBuilds() { #expect(Bool(true)) }
