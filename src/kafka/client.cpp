#include "switchyard/kafka/client.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "kafka/cli_support.h"
#include "switchyard/event/signature.h"

namespace switchyard {

namespace {

std::shared_ptr<spdlog::logger> logger() {
  static const auto log = named_logger("kafka");
  return log;
}

std::vector<std::pair<std::string, std::string>> base_properties(const KafkaConfig& config) {
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", config.bootstrap_servers},
      {"client.id", "switchyard"},
  };
  for (const auto& [k, v] : config.properties) props.emplace_back(k, v);
  return props;
}

// The callbacks of one handle; null ones are not installed.
struct Callbacks {
  void (*error)(rd_kafka_t*, int, const char*, void*) = nullptr;
  void (*rebalance)(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*,
                    void*) = nullptr;
  void (*delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*) = nullptr;
};

// A librdkafka handle of `type`: the base properties with `own` after bootstrap.servers (so the
// user's kafka.properties, last, win), logs forwarded, `opaque` and `callbacks`. Throws with
// every rejected property (start-up only).
rd_kafka_t* new_handle(rd_kafka_type_t type, const KafkaConfig& config,
                       const std::vector<std::pair<std::string, std::string>>& own, void* opaque,
                       Callbacks callbacks) {
  auto props = base_properties(config);
  props.insert(props.begin() + 1, own.begin(), own.end());
  std::string error;
  cli::ConfPtr conf = cli::make_conf(props, error);
  if (!conf) throw std::runtime_error("invalid Kafka configuration: " + error);
  rd_kafka_conf_set_opaque(conf.get(), opaque);
  if (callbacks.error) rd_kafka_conf_set_error_cb(conf.get(), callbacks.error);
  if (callbacks.rebalance) rd_kafka_conf_set_rebalance_cb(conf.get(), callbacks.rebalance);
  if (callbacks.delivery) rd_kafka_conf_set_dr_msg_cb(conf.get(), callbacks.delivery);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (!rk) {
    throw std::runtime_error(std::string("cannot create Kafka ") +
                             (type == RD_KAFKA_CONSUMER ? "consumer: " : "producer: ") + err);
  }
  conf.release();  // rd_kafka_new owns it now
  return rk;
}

rd_kafka_topic_partition_list_t* to_list(const std::vector<TopicPartition>& tps) {
  auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()));
  for (const auto& tp : tps)
    rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition);
  return list;
}

std::vector<TopicPartition> from_list(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  for (int i = 0; i < list->cnt; ++i)
    out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

}  // namespace

// ---- KafkaMessage ----

KafkaMessage& KafkaMessage::operator=(KafkaMessage&& o) noexcept {
  if (this != &o) {
    if (msg_) rd_kafka_message_destroy(msg_);
    msg_ = std::exchange(o.msg_, nullptr);
  }
  return *this;
}
KafkaMessage::~KafkaMessage() {
  if (msg_) rd_kafka_message_destroy(msg_);
}
std::string_view KafkaMessage::topic() const {
  return msg_->rkt ? rd_kafka_topic_name(msg_->rkt) : "";
}
std::int32_t KafkaMessage::partition() const {
  return msg_->partition;
}
std::int64_t KafkaMessage::offset() const {
  return msg_->offset;
}
std::string_view KafkaMessage::key() const {
  return msg_->key ? std::string_view(static_cast<const char*>(msg_->key), msg_->key_len)
                   : std::string_view();
}
std::string_view KafkaMessage::value() const {
  return msg_->payload ? std::string_view(static_cast<const char*>(msg_->payload), msg_->len)
                       : std::string_view();
}
std::int64_t KafkaMessage::timestamp_ms() const {
  rd_kafka_timestamp_type_t type;
  return rd_kafka_message_timestamp(msg_, &type);
}
int KafkaMessage::error() const {
  return msg_->err;
}
std::string KafkaMessage::error_text() const {
  return rd_kafka_message_errstr(msg_);
}

// ---- KafkaConsumer ----

struct KafkaConsumer::Impl {
  KafkaConsumer* owner;
  RebalanceListener* listener;
  rd_kafka_t* rk = nullptr;
  bool closed = false;
  bool read_signatures = false;

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    auto& assignment = self->owner->assignment_;
    bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    auto tps = from_list(parts);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->listener->on_assigned(tps);
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts);
        if (e) rd_kafka_error_destroy(e);
        assignment.insert(assignment.end(), tps.begin(), tps.end());
      } else {
        rd_kafka_assign(rk, parts);
        assignment = tps;
      }
      logger()->info("assigned {} partitions ({} total)", tps.size(), assignment.size());
    } else {
      bool lost = rd_kafka_assignment_lost(rk);
      self->listener->on_revoked(tps, lost);
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts);
        if (e) rd_kafka_error_destroy(e);
        std::erase_if(assignment, [&tps](const TopicPartition& tp) {
          return std::find(tps.begin(), tps.end(), tp) != tps.end();
        });
      } else {
        rd_kafka_assign(rk, nullptr);
        assignment.clear();
      }
      logger()->info("{} {} partitions", lost ? "lost" : "revoked", tps.size());
    }
  }

  static void error_cb(rd_kafka_t*, int err, const char* reason, void*) {
    // Broker errors are retried by librdkafka; they are surfaced here for the operator.
    logger()->warn("kafka consumer: {} ({})", reason,
                   rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }
};

KafkaConsumer::KafkaConsumer(const KafkaConfig& config, const std::vector<std::string>& topics,
                             RebalanceListener* listener, bool read_signatures)
    : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->listener = listener;
  impl_->read_signatures = read_signatures;
  impl_->rk = new_handle(RD_KAFKA_CONSUMER, config,
                         {
                             {"group.id", config.group_id},
                             // Offsets are committed by the worker's offset tracker only.
                             {"enable.auto.commit", "false"},
                             {"enable.auto.offset.store", "false"},
                             {"auto.offset.reset", "earliest"},
                             {"enable.partition.eof", "false"},
                             {"queued.max.messages.kbytes", "65536"},
                             {"fetch.wait.max.ms", "10"},
                         },
                         impl_.get(), {.error = &Impl::error_cb, .rebalance = &Impl::rebalance_cb});
  rd_kafka_poll_set_consumer(impl_->rk);
  auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()));
  for (const auto& t : topics)
    rd_kafka_topic_partition_list_add(list, t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(impl_->rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (e) throw std::runtime_error(std::string("cannot subscribe: ") + rd_kafka_err2str(e));
}

KafkaConsumer::~KafkaConsumer() {
  held_.clear();  // librdkafka wants every message destroyed before its handle
  close();
  if (impl_->rk) rd_kafka_destroy(impl_->rk);
}

void KafkaConsumer::poll(int timeout_ms, std::size_t max, std::vector<ConsumedRecord>& out) {
  held_.clear();  // releases the previous poll's buffers
  for (std::size_t n = 0; n < max; ++n) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(impl_->rk, n == 0 ? timeout_ms : 0);
    if (!msg) return;
    if (msg->err) {
      KafkaMessage holder(msg);
      if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      if (msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
          msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
        TopicPartition tp{msg->rkt ? rd_kafka_topic_name(msg->rkt) : "", msg->partition};
        impl_->listener->on_offset_reset(tp, holder.error_text());
        continue;
      }
      logger()->warn("kafka consume error: {}", holder.error_text());
      continue;
    }
    const KafkaMessage& m = held_.emplace_back(msg);
    ConsumedRecord& r =
        out.emplace_back(m.topic(), m.partition(), m.offset(), m.value(), m.timestamp_ms());
    if (impl_->read_signatures) {
      rd_kafka_headers_t* headers = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          rd_kafka_header_get_last(headers, kSignatureHeader.data(), &value, &size) ==
              RD_KAFKA_RESP_ERR_NO_ERROR &&
          value != nullptr) {
        r.signature = std::string_view(static_cast<const char*>(value), size);
      }
    }
  }
}

void KafkaConsumer::pause(const std::vector<TopicPartition>& partitions) {
  if (partitions.empty()) return;
  auto* list = to_list(partitions);
  rd_kafka_pause_partitions(impl_->rk, list);
  rd_kafka_topic_partition_list_destroy(list);
}

void KafkaConsumer::resume(const std::vector<TopicPartition>& partitions) {
  if (partitions.empty()) return;
  auto* list = to_list(partitions);
  rd_kafka_resume_partitions(impl_->rk, list);
  rd_kafka_topic_partition_list_destroy(list);
}

std::string KafkaConsumer::commit(const std::vector<OffsetCommit>& commits, bool synchronous) {
  if (commits.empty()) return {};
  auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(commits.size()));
  for (const auto& c : commits) {
    rd_kafka_topic_partition_list_add(list, c.tp.topic.c_str(), c.tp.partition)->offset = c.offset;
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(impl_->rk, list, synchronous ? 0 : 1);
  rd_kafka_topic_partition_list_destroy(list);
  return err ? rd_kafka_err2str(err) : "";
}

std::vector<PartitionLag> KafkaConsumer::lag() const {
  std::vector<PartitionLag> out;
  if (assignment_.empty() || !impl_->rk) return out;
  auto* list = to_list(assignment_);
  rd_kafka_position(impl_->rk, list);
  for (int i = 0; i < list->cnt; ++i) {
    const auto& p = list->elems[i];
    PartitionLag l{{p.topic, p.partition}, -1};
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (rd_kafka_get_watermark_offsets(impl_->rk, p.topic, p.partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0) {
      // Before the first fetch the position is unknown: count from the low watermark.
      const std::int64_t position = p.offset >= 0 ? p.offset : low;
      l.lag = std::max<std::int64_t>(0, high - position);
    }
    out.push_back(std::move(l));
  }
  rd_kafka_topic_partition_list_destroy(list);
  return out;
}

void KafkaConsumer::close() {
  held_.clear();
  if (impl_->closed || !impl_->rk) return;
  impl_->closed = true;
  rd_kafka_consumer_close(impl_->rk);
}

// ---- KafkaProducer ----

struct KafkaProducer::Impl {
  rd_kafka_t* rk = nullptr;
  DeliveryHandler on_delivery;

  static bool permanent(rd_kafka_resp_err_t err) {
    switch (err) {
      case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
      case RD_KAFKA_RESP_ERR_INVALID_RECORD:
      case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        return true;
      default:
        return false;
    }
  }
  static void dr_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    self->on_delivery(msg->_private, msg->err ? rd_kafka_err2str(msg->err) : nullptr,
                      msg->err && permanent(msg->err));
  }
  static void error_cb(rd_kafka_t*, int err, const char* reason, void*) {
    logger()->warn("kafka producer: {} ({})", reason,
                   rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }
};

KafkaProducer::KafkaProducer(const KafkaConfig& config, DeliveryHandler on_delivery)
    : impl_(std::make_unique<Impl>()) {
  impl_->on_delivery = std::move(on_delivery);
  impl_->rk = new_handle(RD_KAFKA_PRODUCER, config,
                         {
                             {"enable.idempotence", "true"},
                             {"acks", "all"},
                             {"linger.ms", "2"},
                             {"batch.num.messages", "10000"},
                             {"queue.buffering.max.messages", "1000000"},
                             {"compression.type", "lz4"},
                         },
                         impl_.get(), {.error = &Impl::error_cb, .delivery = &Impl::dr_cb});
}

KafkaProducer::~KafkaProducer() {
  if (impl_->rk) {
    rd_kafka_flush(impl_->rk, 10000);
    rd_kafka_destroy(impl_->rk);
  }
}

std::string KafkaProducer::produce(const std::string& topic, std::string_view key,
                                   std::string_view value, const std::vector<KafkaHeader>& headers,
                                   void* opaque) {
  for (;;) {
    rd_kafka_headers_t* hdrs = nullptr;
    if (!headers.empty()) {
      hdrs = rd_kafka_headers_new(headers.size());
      for (const auto& h : headers) {
        rd_kafka_header_add(hdrs, h.name, -1, h.value.data(), static_cast<ssize_t>(h.value.size()));
      }
    }
    rd_kafka_resp_err_t err =
        hdrs
            ? rd_kafka_producev(impl_->rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END)
            : rd_kafka_producev(impl_->rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque),
                                RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(impl_->rk, 10);  // back-pressure: serve delivery reports, then retry
      continue;
    }
    return rd_kafka_err2str(err);
  }
}

void KafkaProducer::poll(int timeout_ms) {
  rd_kafka_poll(impl_->rk, timeout_ms);
}

bool KafkaProducer::flush(int timeout_ms) {
  return rd_kafka_flush(impl_->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace switchyard
