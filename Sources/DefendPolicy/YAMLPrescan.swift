import CYaml

/// A linear pass over libyaml's event stream, before Yams composes the document into a tree.
///
/// Why: composing resolves aliases, and Yams hashes every mapping key (to find duplicates) — an
/// alias used as a key hashes the whole aliased structure, so a few hundred bytes of nested
/// aliases ("alias bomb") take seconds to hours. This pass never expands anything: it computes
/// each node's expanded size from its children (an alias counts its anchor's size, saturating),
/// and rejects the document once that exceeds `maxExpandedNodes`. It also reports what Yams
/// would report badly: every duplicate key at its own position (Yams reports only the first, at
/// the mapping's start), keys that are lists or mappings (a policy key is a plain name), undefined
/// aliases and several documents, and syntax errors in plain words.
enum YAMLPrescan {
    /// Expanded nodes allowed in one document (a 125-selector policy has about 2,000).
    static let maxExpandedNodes = 100_000
    static let maxProblems = 200

    struct Problem: Equatable {
        var line: Int
        var column: Int
        var message: String
    }

    private enum Frame {
        case sequence(size: Int)
        /// `keys`: the plain keys seen so far (first position of each); `expectingKey`: the next
        /// node is a key (mappings alternate key, value).
        case mapping(size: Int, keys: [String: (line: Int, column: Int)], expectingKey: Bool)
    }

    private struct Anchor {
        var size: Int
        var scalar: String?
    }

    /// Problems found; empty means the document may be composed.
    static func check(_ text: String) -> [Problem] {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { bytes = [0x0A] }  // libyaml needs a non-null buffer
        return bytes.withUnsafeBufferPointer { buffer in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                return [Problem(line: 0, column: 0, message: "out of memory while reading the YAML")]
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var scan = Scan()
            scan.run(&parser)
            return scan.problems
        }
    }

    private struct Scan {
        var problems: [Problem] = []
        var stack: [Frame] = []
        var anchors: [String: Anchor] = [:]
        var collectionAnchors: [String?] = []
        var documents = 0

        mutating func report(_ line: Int, _ column: Int, _ message: String) {
            if problems.count < YAMLPrescan.maxProblems { problems.append(Problem(line: line, column: column, message: message)) }
        }

        mutating func run(_ parser: inout yaml_parser_t) {
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    problems.append(Self.syntaxError(parser))
                    return
                }
                defer { yaml_event_delete(&event) }
                let line = Int(event.start_mark.line) + 1, column = Int(event.start_mark.column) + 1
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return
                case YAML_DOCUMENT_START_EVENT:
                    documents += 1
                    if documents > 1 {
                        report(line, column, "the file holds more than one YAML document (`---`); a policy is one document")
                        return
                    }
                case YAML_SCALAR_EVENT:
                    let value = Self.string(event.data.scalar.value, length: event.data.scalar.length)
                    if let anchor = Self.string(event.data.scalar.anchor) { anchors[anchor] = Anchor(size: 1, scalar: value) }
                    if !node(size: 1, keyText: value, isCollection: false, line, column) { return }
                case YAML_ALIAS_EVENT:
                    let name = Self.string(event.data.alias.anchor) ?? ""
                    guard let anchor = anchors[name] else {
                        report(line, column, "alias *\(name) names no anchor defined before it")
                        if !node(size: 1, keyText: nil, isCollection: false, line, column) { return }
                        continue
                    }
                    if !node(size: anchor.size, keyText: anchor.scalar, isCollection: anchor.scalar == nil, line, column) { return }
                case YAML_SEQUENCE_START_EVENT:
                    if !keyCheck(isCollection: true, keyText: nil, line, column) { return }
                    collectionAnchors.append(Self.string(event.data.sequence_start.anchor))
                    stack.append(.sequence(size: 1))
                case YAML_MAPPING_START_EVENT:
                    if !keyCheck(isCollection: true, keyText: nil, line, column) { return }
                    collectionAnchors.append(Self.string(event.data.mapping_start.anchor))
                    stack.append(.mapping(size: 1, keys: [:], expectingKey: true))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let frame = stack.popLast() else { continue }
                    let size: Int
                    switch frame {
                    case .sequence(let s): size = s
                    case .mapping(let s, _, _): size = s
                    }
                    if let anchor = collectionAnchors.popLast() ?? nil { anchors[anchor] = Anchor(size: size, scalar: nil) }
                    // The collection was checked as a key when it started; now it only adds its size.
                    if !add(size: size, line, column) { return }
                default:
                    continue
                }
            }
        }

        /// A complete node (scalar or alias): checks it as a key, then adds its size to the parent.
        mutating func node(size: Int, keyText: String?, isCollection: Bool, _ line: Int, _ column: Int) -> Bool {
            keyCheck(isCollection: isCollection, keyText: keyText, line, column) && add(size: size, line, column)
        }

        /// When the node starting here is a mapping key: a plain key must not repeat, and a key
        /// must not be a list or a mapping (Yams would hash all of it).
        mutating func keyCheck(isCollection: Bool, keyText: String?, _ line: Int, _ column: Int) -> Bool {
            guard case .mapping(let size, var keys, true)? = stack.last else { return true }
            if isCollection {
                report(line, column, "a key must be a plain name, not a list or a mapping")
            } else if let key = keyText {
                if let first = keys[key] {
                    report(line, column, "duplicate key '\(key)' (first at line \(first.line), column \(first.column))")
                } else {
                    keys[key] = (line, column)
                }
            }
            stack[stack.count - 1] = .mapping(size: size, keys: keys, expectingKey: true)
            return true
        }

        /// Adds a finished node's expanded size to its parent (flipping a mapping's key/value
        /// turn); false once the document is too large to compose.
        mutating func add(size: Int, _ line: Int, _ column: Int) -> Bool {
            guard let top = stack.last else {
                return withinBudget(size, line, column)
            }
            var total = 0
            switch top {
            case .sequence(let s):
                total = Self.saturatingAdd(s, size)
                stack[stack.count - 1] = .sequence(size: total)
            case .mapping(let s, let keys, let expectingKey):
                total = Self.saturatingAdd(s, size)
                stack[stack.count - 1] = .mapping(size: total, keys: keys, expectingKey: !expectingKey)
            }
            return withinBudget(total, line, column)
        }

        mutating func withinBudget(_ size: Int, _ line: Int, _ column: Int) -> Bool {
            if size <= YAMLPrescan.maxExpandedNodes { return true }
            report(line, column, "the document is too complex: its aliases expand to more than \(YAMLPrescan.maxExpandedNodes) nodes")
            return false
        }

        static func saturatingAdd(_ a: Int, _ b: Int) -> Int {
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow ? Int.max : sum
        }

        static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }

        static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String {
            guard let pointer else { return "" }
            return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
        }

        /// libyaml's problem and context ("did not find expected key", "while parsing a block
        /// mapping") as one sentence at the problem's position.
        static func syntaxError(_ parser: yaml_parser_t) -> Problem {
            let problem = parser.problem.map { String(cString: $0) } ?? "unreadable YAML"
            if parser.error == YAML_READER_ERROR {
                return Problem(line: 0, column: 0, message: "not valid YAML: \(problem) (at byte offset \(parser.problem_offset))")
            }
            if parser.error == YAML_MEMORY_ERROR {
                return Problem(line: 0, column: 0, message: "not valid YAML: out of memory")
            }
            var message = "not valid YAML: " + problem
            if let context = parser.context.map({ String(cString: $0) }) {
                message += " (\(context) that starts at line \(parser.context_mark.line + 1), column \(parser.context_mark.column + 1))"
            }
            return Problem(line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1, message: message)
        }
    }
}
