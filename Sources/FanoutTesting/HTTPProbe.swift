/// Health probes in tests: the status of `GET <path>` on 127.0.0.1, or `nil` when nothing answers.
public enum HTTPProbe {
    public static func status(port: Int, path: String) async -> Int? {
        try? await HTTPGet.response(port: port, path: path).status
    }
}
