public import FanoutRedis

/// Settings every role shares: where Redis is and which key prefix to use.
public struct CommonConfiguration: Sendable {
    /// `FANOUT_REDIS_URL` — default `redis://127.0.0.1:6379`.
    public var redis: RedisConfiguration
    /// `FANOUT_KEY_PREFIX` — default `fanout`; `FANOUT_STREAM_PARTITIONS` — default 1.
    public var keySpace: KeySpace

    public init(redis: RedisConfiguration = RedisConfiguration(), keySpace: KeySpace = KeySpace()) {
        self.redis = redis
        self.keySpace = keySpace
    }

    /// Reads `FANOUT_REDIS_URL`, `FANOUT_KEY_PREFIX`, `FANOUT_REDIS_CONNECT_TIMEOUT_MS`, `FANOUT_REDIS_COMMAND_TIMEOUT_MS`,
    /// `FANOUT_REDIS_SENTINEL_PASSWORD`, `FANOUT_REDIS_MIN_REPLICAS`, `FANOUT_REDIS_MIN_REPLICAS_TIMEOUT_MS`,
    /// `FANOUT_STREAM_PARTITIONS`.
    public init(reader: ConfigurationReader) throws(ConfigurationError) {
        let url = reader.string("FANOUT_REDIS_URL", default: "redis://127.0.0.1:6379")
        do {
            redis = try RedisConfiguration(url: url)
        } catch {
            throw ConfigurationError("FANOUT_REDIS_URL: \(error.message)")
        }
        redis.connectTimeout = try reader.milliseconds("FANOUT_REDIS_CONNECT_TIMEOUT_MS", default: redis.connectTimeout)
        redis.commandTimeout = try reader.milliseconds("FANOUT_REDIS_COMMAND_TIMEOUT_MS", default: redis.commandTimeout)
        if let password = reader.string("FANOUT_REDIS_SENTINEL_PASSWORD"), !password.isEmpty {
            guard redis.sentinel != nil else {
                throw ConfigurationError("FANOUT_REDIS_SENTINEL_PASSWORD is set but FANOUT_REDIS_URL is not a redis-sentinel:// URL")
            }
            redis.sentinel?.password = password
        }
        redis.minReplicas = try reader.int("FANOUT_REDIS_MIN_REPLICAS", default: 0, range: 0...100)
        redis.minReplicasTimeout = try reader.milliseconds("FANOUT_REDIS_MIN_REPLICAS_TIMEOUT_MS", default: redis.minReplicasTimeout)
        let prefix = reader.string("FANOUT_KEY_PREFIX", default: "fanout")
        guard IdentifierRules.isValid(prefix, maxLength: 64) else {
            throw ConfigurationError("FANOUT_KEY_PREFIX: 1-64 of [A-Za-z0-9._-], got '\(prefix)'")
        }
        let partitions = try reader.int("FANOUT_STREAM_PARTITIONS", default: 1, range: 1...KeySpace.maxPartitions)
        keySpace = KeySpace(prefix: prefix, partitions: partitions, cluster: redis.cluster != nil)
    }
}
