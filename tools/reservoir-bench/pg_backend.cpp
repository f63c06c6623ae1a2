// PostgreSQL through reservoir::pg, and the raw baseline through libpq with one blocking
// connection per thread.
#include <libpq-fe.h>

#include <mutex>

#include <nlohmann/json.hpp>

#include "backend.hpp"
#include "pooled.hpp"
#include "reservoir/pg/connector.hpp"

namespace bench {

namespace {

class RawPgClient final : public Client {
 public:
  RawPgClient(PGconn* conn, const MemorySql& sql, OpenCounter& counter) : conn_(conn), sql_(sql), counter_(counter) {}
  ~RawPgClient() override {
    PQfinish(conn_);
    counter_.on_close();
  }

  reservoir::Status run(const Op& op, OpOutcome& outcome, std::int64_t&) override {
    PGresult* res = nullptr;
    switch (op.kind) {
      case OpKind::store: {
        const std::string created = std::to_string(op.created_ms);
        const char* values[] = {op.key.c_str(), op.content.c_str(), created.c_str()};
        res = PQexecParams(conn_, sql_.upsert.c_str(), 3, nullptr, values, nullptr, nullptr, 0);
        break;
      }
      case OpKind::retrieve: {
        const char* values[] = {op.key.c_str()};
        res = PQexecParams(conn_, sql_.retrieve.c_str(), 1, nullptr, values, nullptr, nullptr, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
          content_.assign(PQgetvalue(res, 0, 0));  // read the row as a caller would
          outcome.hit = true;
        }
        break;
      }
      case OpKind::stats:
        res = PQexec(conn_, sql_.count.c_str());
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) outcome.count = std::atoll(PQgetvalue(res, 0, 0));
        break;
    }
    const ExecStatusType status = PQresultStatus(res);
    reservoir::Status st;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      const bool lost = PQstatus(conn_) != CONNECTION_OK;
      st = reservoir::Error(lost ? reservoir::ErrorKind::unavailable : reservoir::ErrorKind::backend,
                            PQerrorMessage(conn_), lost, state ? state : "");
    }
    PQclear(res);
    return st;
  }

 private:
  PGconn* conn_;
  const MemorySql& sql_;
  OpenCounter& counter_;
  std::string content_;
};

class RawPgTarget final : public Target {
 public:
  RawPgTarget(std::string url, std::string endpoint, const MemorySql* sql, std::chrono::milliseconds connect_timeout)
      : url_(std::move(url)), endpoint_(std::move(endpoint)), sql_(sql), connect_timeout_(connect_timeout) {}

  reservoir::Result<std::unique_ptr<Client>> client() override {
    // libpq's connect_timeout counts whole seconds (at least 2).
    const std::string timeout = std::to_string(std::max<long>(2, static_cast<long>((connect_timeout_.count() + 999) / 1000)));
    const char* keys[] = {"dbname", "connect_timeout", nullptr};
    const char* values[] = {url_.c_str(), timeout.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (PQstatus(conn) != CONNECTION_OK) {
      // libpq's message names the host and the cause; it does not echo the password.
      std::string why = conn ? PQerrorMessage(conn) : "out of memory";
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      PQfinish(conn);
      return reservoir::Error::unavailable(endpoint_, why);
    }
    counter_.on_open();
    return std::unique_ptr<Client>(std::make_unique<RawPgClient>(conn, *sql_, counter_));
  }
  TargetStats stats() const override { return TargetStats{counter_.max_open.load(), counter_.opened.load(), {}}; }
  reservoir::Status finish(std::chrono::milliseconds) override { return {}; }

 private:
  std::string url_;
  std::string endpoint_;
  const MemorySql* sql_;
  std::chrono::milliseconds connect_timeout_;
  OpenCounter counter_;
};

class PgBackend final : public Backend {
 public:
  PgBackend(std::string url, reservoir::pg::Connector connector, const BackendOptions& options)
      : url_(std::move(url)), connector_(std::move(connector)), options_(options) {}

  std::string kind() const override { return "postgresql"; }
  std::string endpoint() const override { return connector_.to_string(); }

  reservoir::Status prepare(const WorkloadConfig& workload) override {
    sql_ = pg_statements(workload.table);
    auto v = prepare_table(connector_, sql_, workload, options_.settings);
    if (!v) return std::move(v).error();
    server_version_ = *v;
    prepared_ = true;
    return {};
  }

  reservoir::Result<std::unique_ptr<Target>> open(Mode mode, const RunSettings& s) override {
    switch (mode) {
      case Mode::pooled: return PooledTarget<reservoir::pg::Connector>::create(connector_, &sql_, s);
      case Mode::unpooled:
        return std::unique_ptr<Target>(std::make_unique<UnpooledTarget<reservoir::pg::Connector>>(connector_, &sql_, s));
      case Mode::raw:
        return std::unique_ptr<Target>(std::make_unique<RawPgTarget>(url_, connector_.endpoint(), &sql_, s.connect_timeout));
      case Mode::shared: break;  // not offered (offers())
    }
    return reservoir::Error::make(reservoir::ErrorKind::internal, "unknown mode");
  }

  nlohmann::json versions() override {
    return {{"libpq", PQlibVersion()},
            {"server", server_version_},
            {"reset_sql", connector_.options().reset_sql}};
  }

  std::string cleanup(bool keep) override {
    if (keep || !prepared_) return {};
    if (auto st = drop_table(connector_, sql_, options_.settings); !st) {
      return "could not drop the table: " + st.error().message();
    }
    return {};
  }

 private:
  std::string url_;
  reservoir::pg::Connector connector_;
  BackendOptions options_;
  MemorySql sql_;
  std::string server_version_;
  bool prepared_ = false;
};

}  // namespace

reservoir::Result<std::unique_ptr<Backend>> make_pg_backend(const std::string& url, const BackendOptions& options) {
  reservoir::pg::ConnectorOptions co;
  if (options.pg_reset == "rollback") co.reset_sql = "";
  if (options.pg_reset == "tracked") co.reset = reservoir::pg::ResetMode::tracked;
  auto connector = reservoir::pg::Connector::create(url, co);
  if (!connector) return std::move(connector).error();
  return std::unique_ptr<Backend>(std::make_unique<PgBackend>(url, std::move(connector).value(), options));
}

}  // namespace bench
