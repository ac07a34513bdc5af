import DefendEvents
import Testing
@testable import DefendPolicy

/// A one-selector file policy (alert) with the given condition lines.
func fileSelector(_ conditions: String) throws -> Policy {
    try policy("file:\n  selectors:\n    - name: s\n\(conditions)\n  responses:\n    - match: [s]\n      actions: [alert]\n")
}

func processSelector(_ conditions: String) throws -> Policy {
    try policy("process:\n  selectors:\n    - name: s\n\(conditions)\n  responses:\n    - match: [s]\n      actions: [alert]\n")
}

func fires(_ p: Policy, _ e: PolicyEvent, scope: PolicyScope = .containers,
           sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    !decide(p, e, scope: scope, sourceLocation: sourceLocation).actions.isEmpty
}

@Suite struct SpecExamples {
    @Test func policyExampleWithInteractiveProcesses() throws {
        let p = try policy("""
              process:
                selectors:
                  - name: allProcesses
                    operation: [fork, exec]
                  - name: interactiveProcesses
                    operation: [fork, exec]
                    sessionLeaderInteractive: true
                responses:
                  - match: [allProcesses]
                    actions: [log]
                  - match: [interactiveProcesses]
                    actions: [alert]
              file:
                selectors:
                  - name: executableChanges
                    operation: [createExecutable, modifyExecutable]
                responses:
                  - match: [executableChanges]
                    actions: [alert]
            """)
        let batch = decide(p, procOp(.exec, interactive: false))
        #expect(batch.actions == ["log"] && batch.selectors == ["allProcesses"])
        let shell = decide(p, procOp(.fork, interactive: true))
        #expect(shell.actions == ["alert", "log"] && shell.selectors == ["allProcesses", "interactiveProcesses"])
        #expect(decide(p, fileOp(.modifyExecutable, "/bin/ls")).actions == ["alert"])
        #expect(decide(p, fileOp(.modifyFile, "/bin/ls")).actions == [])
    }

    /// "IF (binDirExeMods OR etcFileChanges) AND NOT nginx = RUN ACTIONS alert and block"
    @Test func responsesExampleBlocksUnlessNginx() throws {
        let p = try policy("""
            file:
              selectors:
                - name: binDirExeMods
                  operation:
                    - createExecutable
                    - modifyExecutable
                  targetFilePath:
                    - /usr/bin/**
                - name: etcFileChanges
                  operation:
                    - createFile
                    - modifyFile
                    - deleteFile
                  targetFilePath:
                    - /etc/**
                - name: nginx
                  containerImageName:
                    - nginx

              responses:
                - match:
                    - binDirExeMods
                    - etcFileChanges
                  exclude:
                    - nginx
                  actions:
                    - alert
                    - block
            """)
        let exe = decide(p, fileOp(.createExecutable, "/usr/bin/evil", container: busybox))
        #expect(exe.actions == ["alert", "block"] && exe.selectors == ["binDirExeMods"])
        #expect(decide(p, fileOp(.deleteFile, "/etc/shadow", container: busybox)).selectors == ["etcFileChanges"])
        #expect(decide(p, fileOp(.createExecutable, "/usr/bin/evil", container: nginx)).actions == [])
        #expect(decide(p, fileOp(.deleteFile, "/etc/shadow", container: nginx)).actions == [])
        #expect(decide(p, fileOp(.createFile, "/usr/bin/notes", container: busybox)).actions == [])
        #expect(decide(p, fileOp(.createExecutable, "/usr/local/bin/x", container: busybox)).actions == [])
    }

    @Test func selectorExampleWithAllConditions() throws {
        let p = try policy("""
            file:
              selectors:
                - name: exampleFileSelector
                  operation: [createExecutable, modifyExecutable]
                  containerImageName: [nginx]
                  containerImageTag: [latest]
                  targetFilePath: [/usr/bin/**]
                  kubernetesClusterId: [cluster1]
                  kubernetesClusterName: [stagingCluster]
                  kubernetesNamespace: [default]
                  kubernetesPodLabel: ['production:*']
                  kubernetesPodName: ['nginx-pod-*']
                  ignoreVolumeMounts: true
              responses:
                - match: [exampleFileSelector]
                  actions: [alert]
            """)
        let k8s = KubernetesContext(clusterID: "cluster1", clusterName: "stagingCluster", namespace: "default",
                                    podName: "nginx-pod-7f9c", podLabels: ["production": "yes"])
        var c = nginx
        c.kubernetes = k8s
        #expect(fires(p, fileOp(.createExecutable, "/usr/bin/x", container: c)))
        #expect(!fires(p, fileOp(.createExecutable, "/usr/bin/x", container: c, volume: .volumeMount)))
        #expect(!fires(p, fileOp(.createExecutable, "/usr/bin/x", container: nginx)), "no Kubernetes metadata")
        for change in [\KubernetesContext.namespace, \.clusterName, \.clusterID, \.podName] {
            var other = c
            other.kubernetes?[keyPath: change] = "other"
            #expect(!fires(p, fileOp(.createExecutable, "/usr/bin/x", container: other)))
        }
        var untagged = c
        untagged.imageTag = "1.25"
        #expect(!fires(p, fileOp(.createExecutable, "/usr/bin/x", container: untagged)))
    }

    @Test func podLabelExampleOrsValues() throws {
        let p = try fileSelector("      operation: [createExecutable]\n      kubernetesPodLabel: [environment:production, service:auth*]")
        func pod(_ labels: [String: String]) -> ContainerContext {
            var c = nginx
            c.kubernetes = KubernetesContext(podLabels: labels)
            return c
        }
        #expect(fires(p, fileOp(.createExecutable, "/x", container: pod(["environment": "production"]))))
        #expect(fires(p, fileOp(.createExecutable, "/x", container: pod(["service": "authz", "environment": "dev"]))))
        #expect(fires(p, fileOp(.createExecutable, "/x", container: pod(["service": "auth"]))))
        #expect(!fires(p, fileOp(.createExecutable, "/x", container: pod(["environment": "production-eu"]))))
        #expect(!fires(p, fileOp(.createExecutable, "/x", container: pod(["service": "oauth"]))))
        #expect(!fires(p, fileOp(.createExecutable, "/x", container: pod([:]))))
    }

    @Test func targetFilePathExample() throws {
        let p = try fileSelector("      targetFilePath: [/usr/bin/echo, /usr/sbin/*, /usr/local/**]")
        #expect(fires(p, fileOp(.modifyFile, "/usr/bin/echo")))
        #expect(!fires(p, fileOp(.modifyFile, "/usr/bin/echo2")))
        #expect(!fires(p, fileOp(.modifyFile, "/usr/bin/echo/x")))
        #expect(fires(p, fileOp(.modifyFile, "/usr/sbin/nologin")))
        #expect(!fires(p, fileOp(.modifyFile, "/usr/sbin/x/y")))
        #expect(fires(p, fileOp(.modifyFile, "/usr/local/bin/something")))
        #expect(fires(p, fileOp(.modifyFile, "/usr/local/x")))
        #expect(!fires(p, fileOp(.modifyFile, "/usr/local")))
        #expect(!fires(p, fileOp(.modifyFile, "/usr/localx/y")))
    }
}

@Suite struct EvaluationRules {
    @Test func selectorWithoutOperationMatchesEveryOperationOfItsSection() throws {
        let p = try fileSelector("      targetFilePath: [/data/**]")
        for op in PolicySection.file.operations { #expect(fires(p, fileOp(op, "/data/x"))) }
        let q = try processSelector("      processName: [sh]")
        #expect(fires(q, procOp(.fork)) && fires(q, procOp(.exec)))
        // A file selector never sees process operations.
        #expect(!fires(p, procOp(.exec, exe: "/data/x")))
    }

    @Test func conditionsAreAndedValuesAreOred() throws {
        let p = try processSelector("      processName: [sh, bash]\n      processExecutable: [/bin/*]")
        #expect(fires(p, procOp(.exec, exe: "/bin/sh", name: "sh")))
        #expect(fires(p, procOp(.exec, exe: "/bin/bash", name: "bash")))
        #expect(!fires(p, procOp(.exec, exe: "/usr/bin/bash", name: "bash")))
        #expect(!fires(p, procOp(.exec, exe: "/bin/zsh", name: "zsh")))
    }

    @Test func unknownValuesDoNotMatchConditions() throws {
        let p = try processSelector("      processName: [sh]")
        #expect(!fires(p, procOp(.exec, name: nil)))
        let q = try processSelector("      sessionLeaderInteractive: false")
        #expect(!fires(q, procOp(.exec, interactive: nil)))
        #expect(fires(q, procOp(.exec, interactive: false)))
        #expect(!fires(q, procOp(.exec, interactive: true)))
        let r = try fileSelector("      targetFilePath: [/**]")
        #expect(!fires(r, fileOp(.createFile, nil)))
        let unknownImage = ContainerContext(id: "new")
        let s = try fileSelector("      containerImageTag: [latest]")
        #expect(!fires(s, fileOp(.createFile, "/x", container: unknownImage)))
        #expect(fires(s, fileOp(.createFile, "/x")))
    }

    @Test func responseFiresWithoutExcludeAndExcludeIsPerResponse() throws {
        let p = try policy("""
            file:
              selectors:
                - name: all
                  operation: [createFile]
                - name: tmp
                  targetFilePath: [/tmp/**]
              responses:
                - match: [all]
                  exclude: [tmp]
                  actions: [alert]
                - match: [all]
                  actions: [log]
            """)
        let tmp = decide(p, fileOp(.createFile, "/tmp/x"))
        #expect(tmp.actions == ["log"] && tmp.selectors == ["all"])
        let etc = decide(p, fileOp(.createFile, "/etc/x"))
        #expect(etc.actions == ["alert", "log"] && etc.selectors == ["all"])
    }

    @Test func actionsAreUnionedAndSelectorsInDeclarationOrder() throws {
        let p = try policy("""
            file:
              selectors:
                - name: z
                  operation: [createFile]
                - name: a
                  targetFilePath: [/etc/*]
                - name: m
                  containerImageName: [nginx]
                - name: unused
                  operation: [createFile]
              responses:
                - match: [m]
                  actions: [log]
                - match: [a, z]
                  actions: [alert]
            """)
        let d = decide(p, fileOp(.createFile, "/etc/hosts"))
        #expect(d.actions == ["alert", "log"])
        #expect(d.selectors == ["z", "a", "m"], "declaration order, and 'unused' (matched, not in a fired match) left out")
    }

    @Test func matchedSelectorsOnlyFromFiredResponses() throws {
        let p = try policy("""
            process:
              selectors:
                - name: shells
                  processName: [sh]
                - name: nginxOnly
                  containerImageName: [nginx]
              responses:
                - match: [shells]
                  exclude: [nginxOnly]
                  actions: [alert]
                - match: [nginxOnly]
                  actions: [log]
            """)
        let d = decide(p, procOp(.exec))
        #expect(d.actions == ["log"] && d.selectors == ["nginxOnly"])
    }

    @Test func scopeContainersVersusAll() throws {
        let p = try policy("""
            process:
              selectors:
                - name: any
                  operation: [exec]
                - name: inNginx
                  containerImageName: [nginx]
                - name: inPod
                  kubernetesNamespace: [default]
              responses:
                - match: [any, inNginx, inPod]
                  actions: [log]
            """)
        #expect(decide(p, procOp(.exec, container: nil)).actions == [])
        let host = decide(p, procOp(.exec, container: nil), scope: .all)
        #expect(host.actions == ["log"] && host.selectors == ["any"])
        let compiled = CompiledPolicy(p, scope: .all)
        #expect(compiled.containerMasks(for: nil) == (file: 0, process: 0b001))
        #expect(compiled.containerMasks(for: nil, scope: .containers) == (file: 0, process: 0))
        #expect(compiled.containerMasks(for: nginx).process == 0b011)
        #expect(CompiledPolicy(p).tables.hostMask == [0, 0])
        #expect(compiled.tables.hostMask == [0, 0b001])
        #expect(compiled.tables.unknownContainerMask == [0, 0b001])
    }

    @Test func processNameIsExactOnFifteenByteComm() throws {
        let p = try processSelector("      processName: [kube-controller]")
        // comm is the executable name truncated to 15 bytes.
        #expect(fires(p, procOp(.exec, name: "kube-controller-manager")))
        #expect(fires(p, procOp(.exec, name: "kube-controller")))
        #expect(!fires(p, procOp(.exec, name: "kube-controlle")))
        #expect(!fires(p, procOp(.exec, name: "Kube-controller")))
    }

    @Test func volumeConditions() throws {
        let mounts = try fileSelector("      ignoreVolumeMounts: true")
        #expect(fires(mounts, fileOp(.createFile, "/x")))
        #expect(!fires(mounts, fileOp(.createFile, "/x", volume: .volumeMount)))
        #expect(!fires(mounts, fileOp(.createFile, "/x", volume: .fileMount)))
        let files = try fileSelector("      ignoreVolumeFiles: true")
        #expect(fires(files, fileOp(.createFile, "/x", volume: .volumeMount)))
        #expect(!fires(files, fileOp(.createFile, "/x", volume: .fileMount)))
        let off = try fileSelector("      ignoreVolumeMounts: false")
        #expect(fires(off, fileOp(.createFile, "/x", volume: .volumeMount)))
    }

    @Test func imageFullNameNormalisesDockerHub() throws {
        for written in ["docker.io/nginx", "docker.io/library/nginx", "index.docker.io/library/nginx"] {
            let p = try fileSelector("      containerImageFullName: [\(written)]")
            for actual in ["docker.io/library/nginx", "docker.io/nginx", "index.docker.io/library/nginx", "nginx"] {
                var c = nginx
                c.imageFullName = actual
                #expect(fires(p, fileOp(.createFile, "/x", container: c)), "\(written) vs \(actual)")
            }
            var other = nginx
            other.imageFullName = "quay.io/library/nginx"
            #expect(!fires(p, fileOp(.createFile, "/x", container: other)))
            other.imageFullName = "docker.io/bitnami/nginx"
            #expect(!fires(p, fileOp(.createFile, "/x", container: other)))
        }
        let reg = try fileSelector("      containerImageFullName: [registry.example.com:5000/team/app]")
        var c = nginx
        c.imageFullName = "registry.example.com:5000/team/app"
        #expect(fires(reg, fileOp(.createFile, "/x", container: c)))
        #expect(ImageReference.normalizedFullName("registry.example.com:5000/team/app:1.0") == "registry.example.com:5000/team/app")
        #expect(ImageReference.normalizedFullName("user/app@sha256:abc") == "docker.io/user/app")
        #expect(ImageReference.shortName("docker.io/library/nginx:1.25") == "nginx")
    }

    @Test func imageShortNameFromFullNameWhenMissing() throws {
        let p = try fileSelector("      containerImageName: [app]")
        #expect(fires(p, fileOp(.createFile, "/x", container: ContainerContext(id: "1", imageFullName: "ghcr.io/org/app"))))
        #expect(!fires(p, fileOp(.createFile, "/x", container: ContainerContext(id: "1", imageFullName: "ghcr.io/app/other"))))
    }

    @Test func podNameExactAndPrefix() throws {
        let p = try fileSelector("      kubernetesPodName: [web-*, db]")
        func pod(_ name: String?) -> ContainerContext {
            var c = nginx
            c.kubernetes = KubernetesContext(podName: name)
            return c
        }
        #expect(fires(p, fileOp(.createFile, "/x", container: pod("web-1"))))
        #expect(fires(p, fileOp(.createFile, "/x", container: pod("web-"))))
        #expect(!fires(p, fileOp(.createFile, "/x", container: pod("web"))))
        #expect(fires(p, fileOp(.createFile, "/x", container: pod("db"))))
        #expect(!fires(p, fileOp(.createFile, "/x", container: pod("db-0"))))
        #expect(!fires(p, fileOp(.createFile, "/x", container: pod(nil))))
    }

    @Test func podLabelForms() throws {
        let p = try fileSelector("      kubernetesPodLabel: [\"app.kubernetes.io/name:web*\", \"empty:\", \"any:*\", \"under_score:x\"]")
        func labels(_ l: [String: String]) -> ContainerContext {
            var c = nginx
            c.kubernetes = KubernetesContext(podLabels: l)
            return c
        }
        #expect(fires(p, fileOp(.createFile, "/x", container: labels(["app.kubernetes.io/name": "webshop"]))))
        #expect(!fires(p, fileOp(.createFile, "/x", container: labels(["app.kubernetes.io/name": "shop"]))))
        #expect(!fires(p, fileOp(.createFile, "/x", container: labels(["name": "web"]))), "key prefix is part of the key")
        #expect(fires(p, fileOp(.createFile, "/x", container: labels(["empty": ""]))))
        #expect(!fires(p, fileOp(.createFile, "/x", container: labels(["empty": "x"]))))
        #expect(fires(p, fileOp(.createFile, "/x", container: labels(["any": ""]))))
        #expect(fires(p, fileOp(.createFile, "/x", container: labels(["any": "whatever"]))))
        #expect(fires(p, fileOp(.createFile, "/x", container: labels(["under_score": "x"]))))
    }
}

@Suite struct PathEdgeCases {
    @Test func directoryItselfIsNotMatchedByWildcards() throws {
        let exact = try fileSelector("      targetFilePath: [/dir]")
        let child = try fileSelector("      targetFilePath: [/dir/*]")
        let desc = try fileSelector("      targetFilePath: [/dir/**]")
        let cases: [(String, Bool, Bool, Bool)] = [
            ("/dir", true, false, false),
            ("/dir/a", false, true, true),
            ("/dir/a/b", false, false, true),
            ("/dir/a/b/c/d/e", false, false, true),
            ("/dirx", false, false, false),
            ("/dirx/a", false, false, false),
            ("/di", false, false, false),
            ("/", false, false, false),
            ("/other/dir/a", false, false, false),
        ]
        for (path, e, c, d) in cases {
            #expect(fires(exact, fileOp(.createFile, path)) == e, "/dir vs \(path)")
            #expect(fires(child, fileOp(.createFile, path)) == c, "/dir/* vs \(path)")
            #expect(fires(desc, fileOp(.createFile, path)) == d, "/dir/** vs \(path)")
        }
    }

    @Test func rootWildcards() throws {
        let child = try fileSelector("      targetFilePath: [/*]")
        let desc = try fileSelector("      targetFilePath: [/**]")
        #expect(fires(child, fileOp(.createFile, "/x")) && !fires(child, fileOp(.createFile, "/x/y")))
        #expect(fires(desc, fileOp(.createFile, "/x")) && fires(desc, fileOp(.createFile, "/x/y")))
        #expect(!fires(child, fileOp(.createFile, "/")) && !fires(desc, fileOp(.createFile, "/")))
    }

    @Test func normalisationOfInputPaths() {
        let cases: [(String, String?)] = [
            ("/usr//bin/", "/usr/bin"), ("/usr/./bin/.", "/usr/bin"), ("/usr/lib/../bin", "/usr/bin"),
            ("/../../etc", "/etc"), ("/", "/"), ("//", "/"), ("/a/b/../../..", "/"), ("relative/x", nil), ("", nil),
            ("/é/ü", "/é/ü"), ("/a/...", "/a/..."),
        ]
        for (input, expected) in cases { #expect(PathNormalizer.normalize(input) == expected, "\(input)") }
    }

    @Test func nonASCIIPathsCompareBytes() throws {
        let p = try fileSelector("      targetFilePath: [/données/*, /日本/**]")
        #expect(fires(p, fileOp(.createFile, "/données/x")))
        #expect(!fires(p, fileOp(.createFile, "/donne\u{301}es/x")), "decomposed é is different bytes")
        #expect(fires(p, fileOp(.createFile, "/日本/語/x")))
        #expect(!fires(p, fileOp(.createFile, "/日本")))
    }

    @Test func longPaths() throws {
        let dir255 = "/" + String(repeating: "d", count: 254)
        let exact = try fileSelector("      targetFilePath: [\"\(dir255)\"]")
        #expect(fires(exact, fileOp(.createFile, dir255)))
        #expect(!fires(exact, fileOp(.createFile, dir255 + "d")))
        let desc = try fileSelector("      targetFilePath: [\"\(String(dir255.dropLast(3)))/**\"]")
        let deep = String(dir255.dropLast(3)) + "/" + String(repeating: "x/", count: 120) + "leaf"
        #expect(deep.utf8.count > 400)
        #expect(fires(desc, fileOp(.createFile, deep)))
    }

    @Test func hashCollisionsCannotMatch() throws {
        // Same length and kind, different bytes: the stored string is compared.
        let p = try fileSelector("      targetFilePath: [/ab, /ba/*]")
        #expect(!fires(p, fileOp(.createFile, "/ba")) && !fires(p, fileOp(.createFile, "/ab/x")))
    }
}
