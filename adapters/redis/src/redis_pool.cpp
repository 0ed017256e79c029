// SPDX-License-Identifier: Apache-2.0
// adapters/redis/src/redis_pool.cpp — make_redis_pool().
#include "cistern/redis.hpp"

namespace cistern {

ResourcePool<RedisConnection> make_redis_pool(RedisOptions redis, ResourcePool<RedisConnection>::Options pool) {
  if (!pool.create) pool.create = [redis] { return std::make_unique<RedisConnection>(redis); };
  if (!pool.validate) pool.validate = [](RedisConnection& c) { return c.ping(); };
  // RedisConnection::broken() is consulted on every return (ResourcePool does it
  // for any T with a broken() member), so a lease on a broken connection is
  // invalidated automatically.
  return ResourcePool<RedisConnection>(std::move(pool));
}

}  // namespace cistern
