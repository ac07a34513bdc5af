import Testing
import Foundation
@testable import DefendECS

private func parse(_ bytes: [UInt8]) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
}

@Suite struct JSONWriterTests {
    @Test func escapesQuotesBackslashesAndControlCharacters() throws {
        let hostile = "a\"b\\c\n\r\t\u{8}\u{c}\u{0}\u{1}\u{1f}\u{7f}é😀/"
        var w = JSONWriter()
        w.string(hostile)
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text == "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0000\\u0001\\u001f\u{7f}é😀/\"")
        #expect(try parse(w.bytes) as? String == hostile)
    }

    @Test func invalidUTF8BecomesReplacementCharacter() throws {
        let cases: [([UInt8], String)] = [
            ([0x61, 0xff, 0x62], "a\u{FFFD}b"),
            ([0xc3], "\u{FFFD}"),                              // truncated 2-byte
            ([0xe2, 0x82], "\u{FFFD}"),                        // truncated 3-byte (one maximal subpart)
            ([0xc0, 0xaf], "\u{FFFD}\u{FFFD}"),                // overlong
            ([0xed, 0xa0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),  // surrogate
            ([0xf4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"), // > U+10FFFF
            ([0xe2, 0x82, 0xac, 0x22], "€\""),                 // valid + quote
            ([0x00, 0x80], "\u{0}\u{FFFD}"),
        ]
        for (raw, expected) in cases {
            var w = JSONWriter()
            w.string(bytes: raw)
            let s = try #require(try parse(w.bytes) as? String, "input \(raw)")
            #expect(s == expected, "input \(raw)")
            #expect(String(validating: w.bytes, as: UTF8.self) != nil)
        }
    }

    @Test func hugeStringsAndArraysAreBounded() throws {
        let mb = String(repeating: "x", count: 1 << 20)
        var w = JSONWriter(maxStringBytes: 4096)
        w.beginObject()
        w.key("one"); w.string(mb)
        w.key("args"); w.stringArray(Array(repeating: mb, count: 1000), maxCount: 128, maxTotalBytes: 16384)
        w.key("many"); w.stringArray((0..<10_000).map(String.init), maxCount: 128, maxTotalBytes: 16384)
        w.endObject()
        #expect(w.bytes.count < 64 * 1024)
        let obj = try #require(try parse(w.bytes) as? [String: Any])
        #expect((obj["one"] as? String)?.utf8.count == 4096)
        let args = try #require(obj["args"] as? [String])
        #expect(args.reduce(0) { $0 + $1.utf8.count } <= 16384)
        #expect((obj["many"] as? [String])?.count == 128)
    }

    @Test func truncationNeverSplitsACharacter() throws {
        let s = String(repeating: "é", count: 100) // 2 bytes each
        var w = JSONWriter(maxStringBytes: 51)
        w.string(s)
        let out = try #require(try parse(w.bytes) as? String)
        #expect(out == String(repeating: "é", count: 25))
    }

    @Test func numbersBoolsAndNesting() throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("zero"); w.int(0)
        w.key("neg"); w.int(-1234567890123)
        w.key("max"); w.uint(UInt64.max)
        w.key("min"); w.int(Int64.min)
        w.key("t"); w.bool(true)
        w.key("f"); w.bool(false)
        w.key("id"); w.decimalString(4026531836)
        w.object("o"); w.array("a"); w.int(1); w.beginObject(); w.endObject(); w.beginArray(); w.endArray(); w.endArray(); w.endObject()
        w.endObject()
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text == #"{"zero":0,"neg":-1234567890123,"max":18446744073709551615,"min":-9223372036854775808,"t":true,"f":false,"id":"4026531836","o":{"a":[1,{},[]]}}"#)
    }

    @Test func timestampsMatchFoundationFormatting() {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        let samples: [Int64] = [0, 1_679_328_239_520_000_000, 951_782_400_123_456_789 /* 2000-02-29 */,
                                4_102_444_799_999_000_000, 1_709_164_800_000_000_000, -1_000_000]
        for ns in samples {
            let expected = f.string(from: Date(timeIntervalSince1970: TimeInterval(ns / 1_000_000) / 1000))
            #expect(ISOTime.string(unixNs: ns) == expected, "ns \(ns)")
        }
        #expect(ISOTime.string(unixNs: 1_679_328_239_520_000_000) == "2023-03-20T16:03:59.520Z")
    }

    @Test func writerTimestampsReuseTheDateOnlyForTheSameDay() throws {
        let samples: [Int64] = [1_679_328_239_520_000_000, 1_679_328_239_999_000_000, 1_679_356_799_999_000_000,
                                1_679_356_800_000_000_000, 951_782_400_123_456_789, 1_679_328_239_520_000_000, -1_000_000]
        var w = JSONWriter()
        w.beginArray()
        for ns in samples { w.timestamp(unixNs: ns) }
        w.endArray()
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String])
        #expect(parsed == samples.map { ISOTime.string(unixNs: $0) })
        #expect(parsed[2] == "2023-03-20T23:59:59.999Z" && parsed[3] == "2023-03-21T00:00:00.000Z")
    }

    @Test func eventIDsAreVersion4UUIDs() {
        var g = EventIDGenerator(seed: 7)
        var seen = Set<String>()
        for _ in 0..<1000 {
            let s = g.string()
            #expect(UUID(uuidString: s) != nil)
            let chars = Array(s)
            #expect(chars[14] == "4")
            #expect("89ab".contains(chars[19]))
            seen.insert(s)
        }
        #expect(seen.count == 1000)
    }
}
