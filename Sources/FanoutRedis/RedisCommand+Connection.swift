extension RedisCommand {
    /// `AUTH [username] password` — https://redis.io/commands/auth
    public static func auth(username: String?, password: String) -> Self {
        var command = RedisCommand("AUTH")
        if let username { command.append(username) }
        command.append(password)
        return command
    }

    /// `SELECT index` — https://redis.io/commands/select
    public static func select(_ database: Int) -> Self {
        var command = RedisCommand("SELECT")
        command.append(database)
        return command
    }

    /// `CLIENT SETNAME name` — https://redis.io/commands/client-setname
    public static func clientSetName(_ name: String) -> Self { RedisCommand("CLIENT", ["SETNAME", name]) }

    /// `PING` — https://redis.io/commands/ping
    public static func ping() -> Self { RedisCommand("PING") }
}
