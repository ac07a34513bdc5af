import Testing
@testable import DefendECS

@Test func DefendECSModuleBuilds() { #expect(Bool(true)) }
