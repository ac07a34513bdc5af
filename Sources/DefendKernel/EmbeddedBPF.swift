/// A BPF object compiled from `bpf/*.bpf.c` at build time and embedded in the binary
/// (see Plugins/BPFCompilerPlugin). The generated files add one static member per program file.
public struct EmbeddedBPF: Sendable {
    public let name: String
    private let hex: StaticString

    init(name: String, hex: StaticString) {
        self.name = name
        self.hex = hex
    }

    /// The ELF object's bytes.
    public var bytes: [UInt8] {
        hex.withUTF8Buffer { text in
            var out = [UInt8]()
            out.reserveCapacity(text.count / 2)
            var i = 0
            while i + 1 < text.count {
                out.append(Self.nibble(text[i]) << 4 | Self.nibble(text[i + 1]))
                i += 2
            }
            return out
        }
    }

    private static func nibble(_ c: UInt8) -> UInt8 {
        c >= 97 ? c - 87 : c - 48
    }
}
