import Testing
@testable import DefendEnrich

@Test func DefendEnrichModuleBuilds() { #expect(Bool(true)) }
