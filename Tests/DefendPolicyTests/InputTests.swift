import DefendEvents
import Testing
@testable import DefendPolicy

@Suite struct TestInputParsing {
    @Test func testShape() throws {
        let e = try PolicyTestInput.parse(line: """
            {"type":"file","operation":"createExecutable","targetPath":"/usr//bin/../bin/x/","process":{"executable":"/bin/sh","name":"sh"},\
            "sessionLeaderInteractive":true,"volume":{"inVolumeMount":true,"isFileMount":false},\
            "container":{"id":"c","imageName":"nginx","imageFullName":"docker.io/library/nginx","imageTag":"latest"},\
            "kubernetes":{"clusterId":"u","clusterName":"n","namespace":"default","podName":"web-1","podLabels":{"app":"web"}}}
            """)
        #expect(e.operation == .createExecutable && e.path == "/usr/bin/x" && e.processName == "sh")
        #expect(e.interactive == true && e.volume == .volumeMount)
        #expect(e.container?.imageTag == "latest" && e.container?.kubernetes?.podLabels == ["app": "web"])
        #expect(e.container?.kubernetes?.clusterID == "u")
        let p = try PolicyTestInput.parse(line: #"{"type":"process","operation":"exec","targetPath":"/x","process":{"executable":"/bin/./ls"},"container":null}"#)
        #expect(p.path == "/bin/ls" && p.container == nil && p.processName == nil && p.interactive == nil)
    }

    @Test func ecsDocuments() throws {
        let e = try PolicyTestInput.parse(line: """
            {"event":{"category":["file"],"action":"creation"},"file":{"path":"/etc/x"},"process":{"name":"vi",\
            "executable":"/usr/bin/vi","session_leader":{"interactive":true}},"container":{"id":"abc","image":{"name":"nginx","tag":"1"}},\
            "orchestrator":{"namespace":"default","resource":{"name":"web-1","label":["app:web","empty:"]}}}
            """)
        #expect(e.operation == .createFile && e.path == "/etc/x" && e.interactive == true)
        #expect(e.container?.imageName == "nginx" && e.container?.imageTag == "1")
        #expect(e.container?.kubernetes?.podLabels == ["app": "web", "empty": ""])
        let dotted = try PolicyTestInput.parse(line: #"{"event.action":"exec","event.category":"process","process.executable":"/bin/ls","cloud_defend.operation":"exec"}"#)
        #expect(dotted.operation == .exec && dotted.path == "/bin/ls" && dotted.container == nil)
        let op = try PolicyTestInput.parse(line: #"{"event":{"category":"file","action":"modification"},"cloud_defend":{"operation":"modifyExecutable"},"file":{"path":"/bin/x"},"container":{"id":"1","image":{"name":"ghcr.io/org/app"}}}"#)
        #expect(op.operation == .modifyExecutable && op.container?.imageName == "app" && op.container?.imageFullName == "ghcr.io/org/app")
    }

    /// Documents as the agent's ECS writer produces them: event.type carries the operation kind,
    /// the alert title tells executables apart.
    @Test func agentFileDocuments() throws {
        func op(_ json: String) throws -> PolicyOperation { try PolicyTestInput.parse(line: json).operation }
        #expect(try op(#"{"event":{"category":["file"],"action":"modification","type":["creation"]},"message":"Executable created in container","file":{"path":"/x"}}"#) == .createExecutable)
        #expect(try op(#"{"event":{"category":["file"],"action":"open","type":["change"]},"message":"Executable modified in container","file":{"path":"/x"}}"#) == .modifyExecutable)
        #expect(try op(#"{"event":{"category":["file"],"action":"open","type":["change","denied"]},"message":"File modification in container blocked","file":{"path":"/x"}}"#) == .modifyFile)
        #expect(try op(#"{"event":{"category":["file"],"action":"rename","type":["creation"]},"file":{"path":"/x"}}"#) == .createFile)
        #expect(try op(#"{"event":{"category":["file"],"action":"deletion"},"file":{"path":"/x"}}"#) == .deleteFile)
        #expect {
            _ = try PolicyTestInput.parse(line: #"{"event":{"action":"end","category":["process"]}}"#)
        } throws: { error in
            (error as? PolicyTestInput.InputError)?.notAnOperation == true
        }
    }

    @Test(arguments: [
        ("not json", "not JSON"),
        ("[1,2]", "expected a JSON object"),
        (#"{"type":"file"}"#, "missing \"operation\""),
        (#"{"operation":"chmod"}"#, "unknown operation"),
        (#"{"type":"file","operation":"exec"}"#, "is a process operation"),
        (#"{"operation":"createFile","targetPath":"relative"}"#, "not absolute"),
        (#"{"operation":"createFile","targetPath":5}"#, "must be a string"),
        (#"{"operation":"exec","sessionLeaderInteractive":"yes"}"#, "true or false"),
    ])
    func malformedLines(_ line: String, _ message: String) {
        #expect {
            _ = try PolicyTestInput.parse(line: line)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
