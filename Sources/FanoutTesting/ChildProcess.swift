import Foundation
import Synchronization

/// A child process spawned with a clean signal state, for tests that start servers and kill them.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and the threads of a test
/// process block SIGTERM, so a server started that way ignores `kill -TERM`. `posix_spawn` with
/// `POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF` gives the child the default dispositions and
/// an empty mask, like a process started from a shell.
public final class ChildProcess: Sendable {
    /// The child's process ID.
    public let pid: Int32
    private let exitStatus = Mutex<Int32?>(nil)
    /// The write end of the child's stdin pipe; closing it is the child's signal that we are gone.
    private let stdinWriteFD: Int32

    /// Spawns `executable` with `arguments`; stdout and stderr go to `outputPath` (appended) or /dev/null.
    /// The child's stdin is a pipe that stays open until this object is released.
    public init(executable: String, arguments: [String], environment: [String: String]? = nil, outputPath: String? = nil) throws {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw TestServerError("pipe() failed: \(errno)") }
        _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
        posix_spawn_file_actions_adddup2(&fileActions, pipeFDs[0], 0)
        posix_spawn_file_actions_addclose(&fileActions, pipeFDs[0])
        let output = outputPath ?? "/dev/null"
        posix_spawn_file_actions_addopen(&fileActions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)

        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }

        var pid: Int32 = 0
        let result = posix_spawn(&pid, executable, &fileActions, &attributes, argv, env)
        close(pipeFDs[0])
        guard result == 0 else {
            close(pipeFDs[1])
            throw TestServerError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        self.stdinWriteFD = pipeFDs[1]
    }

    deinit {
        if isRunning { kill(pid, SIGKILL) }
        close(stdinWriteFD)
        _ = reap(blocking: true)
    }

    /// Sends `signal` to the child.
    public func send(_ signal: Int32) {
        kill(pid, signal)
    }

    /// `true` until the child has exited (it is reaped here, so no zombie is left).
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// The exit code (or 128 + signal), once the child has exited.
    public var exitCode: Int32? { reap(blocking: false) }

    /// Waits up to `timeout` for the child to exit and returns its exit code, or `nil` if it is still running.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let code = reap(blocking: false) { return code }
            // waitpid(WNOHANG) polling keeps cooperative threads free; bounded by the deadline.
            try? await Task.sleep(for: .milliseconds(5))
        }
        return reap(blocking: false)
    }

    private func reap(blocking: Bool) -> Int32? {
        exitStatus.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, blocking ? 0 : WNOHANG)
            guard result == pid else { return nil }
            let code = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
            status = code
            return code
        }
    }
}
