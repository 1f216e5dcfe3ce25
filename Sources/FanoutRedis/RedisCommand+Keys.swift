public import NIOCore

extension RedisCommand {
    /// `GET key` — https://redis.io/commands/get
    public static func get(_ key: String) -> Self { RedisCommand("GET", [key]) }

    /// `SET key value [PX milliseconds]` — https://redis.io/commands/set
    public static func set(_ key: String, _ value: ByteBuffer, expireMilliseconds: Int? = nil) -> Self {
        var command = RedisCommand("SET", [key])
        command.append(value)
        if let expireMilliseconds {
            command.append("PX")
            command.append(expireMilliseconds)
        }
        return command
    }

    /// `DEL key [key …]` — https://redis.io/commands/del
    public static func del(_ keys: [String]) -> Self { RedisCommand("DEL", keys) }

    /// `EXISTS key` — https://redis.io/commands/exists
    public static func exists(_ key: String) -> Self { RedisCommand("EXISTS", [key]) }

    /// `PEXPIRE key milliseconds` — https://redis.io/commands/pexpire
    public static func pexpire(_ key: String, milliseconds: Int) -> Self { RedisCommand("PEXPIRE", [key, String(milliseconds)]) }

    /// `SADD key member [member …]` — https://redis.io/commands/sadd
    public static func sadd(_ key: String, _ members: [String]) -> Self { RedisCommand("SADD", [key] + members) }

    /// `SREM key member [member …]` — https://redis.io/commands/srem
    public static func srem(_ key: String, _ members: [String]) -> Self { RedisCommand("SREM", [key] + members) }

    /// `SMEMBERS key` — https://redis.io/commands/smembers
    public static func smembers(_ key: String) -> Self { RedisCommand("SMEMBERS", [key]) }

    /// `SCARD key` — https://redis.io/commands/scard
    public static func scard(_ key: String) -> Self { RedisCommand("SCARD", [key]) }

    /// `SISMEMBER key member` — https://redis.io/commands/sismember
    public static func sismember(_ key: String, _ member: String) -> Self { RedisCommand("SISMEMBER", [key, member]) }

    /// `HSET key field value [field value …]` — https://redis.io/commands/hset
    public static func hset(_ key: String, _ fields: [(String, String)]) -> Self {
        var command = RedisCommand("HSET", [key])
        for (field, value) in fields {
            command.append(field)
            command.append(value)
        }
        return command
    }

    /// `HDEL key field [field …]` — https://redis.io/commands/hdel
    public static func hdel(_ key: String, _ fields: [String]) -> Self { RedisCommand("HDEL", [key] + fields) }

    /// `HGETALL key` — https://redis.io/commands/hgetall
    public static func hgetall(_ key: String) -> Self { RedisCommand("HGETALL", [key]) }

    /// `ZADD key score member` — https://redis.io/commands/zadd
    public static func zadd(_ key: String, score: Int64, member: String) -> Self {
        RedisCommand("ZADD", [key, String(score), member])
    }

    /// `ZRANGEBYSCORE key min max` — https://redis.io/commands/zrangebyscore
    public static func zrangebyscore(_ key: String, min: String, max: String) -> Self {
        RedisCommand("ZRANGEBYSCORE", [key, min, max])
    }

    /// `ZREM key member [member …]` — https://redis.io/commands/zrem
    public static func zrem(_ key: String, _ members: [String]) -> Self { RedisCommand("ZREM", [key] + members) }

    /// `ZCARD key` — https://redis.io/commands/zcard
    public static func zcard(_ key: String) -> Self { RedisCommand("ZCARD", [key]) }
}
