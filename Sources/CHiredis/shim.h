// The one C seam of Fanout. Only what Swift cannot express on its own lives here.
#ifndef FANOUT_CHIREDIS_SHIM_H
#define FANOUT_CHIREDIS_SHIM_H

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

/// `redisReaderGetReply` hands the reply out through a `void **`; this returns it typed.
static inline int fanout_reader_get_reply(redisReader *reader, redisReply **reply) {
    void *raw = NULL;
    int status = redisReaderGetReply(reader, &raw);
    *reply = (redisReply *)raw;
    return status;
}

/// `errstr` is a fixed-size char array, which Swift imports as a tuple; this hands out a pointer.
static inline const char *fanout_reader_error(const redisReader *reader) {
    return reader->errstr;
}

/// Elements of an array reply, typed.
static inline redisReply *fanout_reply_element(const redisReply *reply, size_t index) {
    return reply->element[index];
}

#endif
