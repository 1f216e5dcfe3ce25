import Foundation

/// Runs the built `fanout` binary as an unprivileged user, the way a container or a service
/// manager runs it: user `nobody`, group `nogroup`, no supplementary groups, and (because every
/// user ID leaves 0) no capabilities at all.
///
/// When the tests run as root (CI, the developers' machines) the binary is copied into a fresh
/// directory that `nobody` can read and started through `setpriv`, which changes the IDs and then
/// execs, so the child's PID is the fanout process itself (signals reach it directly). When the
/// tests already run unprivileged, the binary runs as it is.
public enum UnprivilegedUser {
    /// The user name processes run as when the tests are root.
    public static let name = "nobody"

    /// `true` when the test process is root, so children are demoted with `setpriv`.
    public static var demotes: Bool { geteuid() == 0 }

    /// The executable and argument prefix that start `fanout` unprivileged.
    public static func launcher() throws -> (executable: String, prefix: [String]) {
        guard demotes else { return (try FanoutBinary.path(), []) }
        let copy = try binaryCopy()
        return ("/usr/bin/setpriv", ["--reuid=\(name)", "--regid=nogroup", "--clear-groups", "--", copy])
    }

    /// The user ID and effective capability set of a running process, from `/proc/PID/status`.
    public static func identity(of pid: Int32) -> (uid: String, effectiveCapabilities: String)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> String? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .map { $0.dropFirst(name.count + 1).split(whereSeparator: { $0 == "\t" || $0 == " " }).first.map(String.init) ?? "" }
        }
        guard let uid = field("Uid"), let caps = field("CapEff") else { return nil }
        return (uid, caps)
    }

    /// `nobody`'s numeric user ID, as `/proc` prints it.
    public static var uid: String {
        guard demotes else { return String(geteuid()) }
        return getpwnam(name).map { String($0.pointee.pw_uid) } ?? "65534"
    }

    private static let copied = NSLock()
    nonisolated(unsafe) private static var copiedPath: String?

    /// A copy of the binary in a directory every user may read and search (the build directory
    /// may sit under a home that `nobody` cannot enter); made once per test process.
    private static func binaryCopy() throws -> String {
        copied.lock()
        defer { copied.unlock() }
        if let copiedPath { return copiedPath }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-unprivileged-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let target = directory.appendingPathComponent("fanout").path
        try FileManager.default.copyItem(atPath: try FanoutBinary.path(), toPath: target)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target)
        copiedPath = target
        return target
    }
}
