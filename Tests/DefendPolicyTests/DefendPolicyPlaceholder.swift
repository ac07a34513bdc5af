import Testing
@testable import DefendPolicy

@Test func DefendPolicyModuleBuilds() { #expect(Bool(true)) }
