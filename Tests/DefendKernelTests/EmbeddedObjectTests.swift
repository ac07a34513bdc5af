import Testing
@testable import DefendKernel

@Test func embeddedSensorObjectIsBPFELF() {
    let bytes = EmbeddedBPF.sensor.bytes
    #expect(bytes.count > 64)
    #expect(Array(bytes.prefix(4)) == [0x7f, 0x45, 0x4c, 0x46])  // ELF magic
    #expect(bytes[18] == 247)  // e_machine = EM_BPF
}

@Test func embeddedLSMObjectIsBPFELF() {
    let bytes = EmbeddedBPF.lsm.bytes
    #expect(Array(bytes.prefix(4)) == [0x7f, 0x45, 0x4c, 0x46])
    #expect(bytes[18] == 247)
}
