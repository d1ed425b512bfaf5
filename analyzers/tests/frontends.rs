//! Language frontends (issue #5): every frontend over every file of the fixture
//! monoliths, snapshotted, plus focused tests of the rules that are easy to get wrong.

use std::path::{Path, PathBuf};

use msa_analyzers::facts::{Access, FileFacts, SqlDialect};
use msa_analyzers::frontends;

/// Every file under `root`, sorted, through every frontend that accepts it.
fn extract_tree(root: &Path) -> Vec<FileFacts> {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("fixture directory") {
            let path = entry.expect("fixture entry").path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    files(root, &mut paths);
    paths.sort();
    let frontends = frontends::all();
    let mut facts = Vec::new();
    for path in paths {
        let relative = path
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        let source = std::fs::read_to_string(&path).expect("fixture is UTF-8");
        for frontend in frontends.iter().filter(|f| f.accepts(&path)) {
            facts.push(frontend.extract(&relative, &source));
        }
    }
    facts
}

fn fixture(name: &str) -> Vec<FileFacts> {
    extract_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
}

/// The facts of one in-memory file, from the frontend that accepts its name.
fn one(path: &str, source: &str) -> FileFacts {
    let frontends = frontends::all();
    let frontend = frontends
        .iter()
        .find(|f| f.accepts(Path::new(path)))
        .expect("a frontend accepts the file");
    frontend.extract(path, source)
}

fn mounts(facts: &FileFacts) -> Vec<String> {
    facts
        .mounts
        .iter()
        .map(|m| format!("{} -> {} @{}", m.prefix, m.target, m.line))
        .collect()
}

fn routes(facts: &FileFacts) -> Vec<String> {
    facts
        .routes
        .iter()
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.handler))
        .collect()
}

#[test]
fn spring_commerce_snapshot() {
    insta::assert_yaml_snapshot!("frontends_spring_commerce", fixture("spring-commerce"));
}

#[test]
fn django_shop_snapshot() {
    insta::assert_yaml_snapshot!("frontends_django_shop", fixture("django-shop"));
}

#[test]
fn express_shop_snapshot() {
    insta::assert_yaml_snapshot!("frontends_express_shop", fixture("express-shop"));
}

#[test]
fn go_shop_snapshot() {
    insta::assert_yaml_snapshot!("frontends_go_shop", fixture("go-shop"));
}

#[test]
fn webflux_shop_snapshot() {
    insta::assert_yaml_snapshot!("frontends_webflux_shop", fixture("webflux-shop"));
}

/// Every route of a fixture, `METHOD /path -> handler`, sorted.
fn all_routes(facts: &[FileFacts]) -> Vec<String> {
    let mut found: Vec<String> = facts.iter().flat_map(routes).collect();
    found.sort();
    found
}

/// Issue #5: WebFlux functional routers (Java builder and predicates, Kotlin
/// `router`/`coRouter` DSL) and annotated controllers returning Mono/Flux.
#[test]
fn webflux_router_functions_and_reactive_controllers_are_routes() {
    let found = all_routes(&fixture("webflux-shop"));
    let handler = "com.shop.delivery.DeliveryHandler";
    let reviews = "com.shop.review.ReviewHandler";
    let stats = "com.shop.review.ReviewStats";
    let expected = [
        // Java builder: `.path(BASE, b -> b.GET(…))`, a predicate-only POST, a
        // nested `.nest(path(…), …)` with a lambda handler, a builder GET with a predicate.
        format!("GET /api/couriers/{{courierId}}/deliveries -> {handler}.byCourier"),
        // Annotated WebFlux controllers (Flux / Mono / suspend).
        "GET /api/couriers -> com.shop.delivery.CourierController.names".to_owned(),
        format!("GET /api/deliveries/{{id}} -> {handler}.get"),
        format!("GET /api/deliveries/{{id}}/events -> {handler}.events"),
        "GET /api/products/{productId}/reviews -> com.shop.review.ReviewController.list".to_owned(),
        "GET /api/products/{productId}/reviews/count -> com.shop.review.ReviewController.count"
            .to_owned(),
        "GET /api/products/{productId}/reviews/latest -> com.shop.review.ReviewController.latest"
            .to_owned(),
        // Kotlin DSL: `"/api/reviews".nest { … }`, `path("/api/stats").nest { … }`.
        format!("GET /api/reviews/{{productId}} -> {reviews}.byProduct"),
        format!("GET /api/stats/health -> {stats}.health"),
        format!("GET /api/stats/reviews -> {stats}.summary"),
        // Java predicates: `route(GET(…).and(accept(…)), …)`, `.andRoute(…)`,
        // `nest(path("/internal"), route(POST(…), …))`.
        format!("GET /api/tracking/{{code}} -> {handler}.track"),
        format!("POST /api/deliveries -> {handler}.schedule"),
        // Kotlin trailing lambda `POST("") { handler.add(it) }`.
        format!("POST /api/reviews -> {reviews}.add"),
        format!("POST /api/tracking/{{code}}/scan -> {handler}.scan"),
        format!("POST /internal/deliveries/{{id}}/cancel -> {handler}.cancel"),
        "PUT /api/couriers/{id}/available -> com.shop.delivery.CourierController.available"
            .to_owned(),
        // `accept(…).nest { }` adds no prefix of its own.
        format!("DELETE /api/reviews/{{id}} -> {reviews}.remove"),
    ];
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn http_method_calls_outside_a_router_are_not_routes() {
    let kotlin = one(
        "Client.kt",
        r#"
package com.shop.client

class Client(private val http: Http) {
    fun fetch() = GET("/orders", http::send)
    fun other() = http.GET("/orders")
}
"#,
    );
    assert_eq!(routes(&kotlin), Vec::<String>::new());
    let java = one(
        "Client.java",
        r#"
package com.shop.client;

class Client {
    void fetch(HttpClient client, Builder request) {
        client.GET("http://example.com/orders");
        request.GET();
        route(get("/lower-case"), this::fetch);
    }
}
"#,
    );
    assert_eq!(routes(&java), Vec::<String>::new());
}

fn sql(facts: &FileFacts) -> Vec<(String, SqlDialect, bool)> {
    facts
        .sql
        .iter()
        .map(|s| (s.text.clone(), s.dialect, s.dynamic))
        .collect()
}

#[test]
fn spring_class_prefix_is_joined_with_method_paths() {
    let facts = one(
        "src/main/java/com/shop/coupon/CouponController.java",
        r#"
package com.shop.coupon;

import org.springframework.web.bind.annotation.*;

@RestController
@RequestMapping({"/api/coupons", "/api/v1/coupons"})
public class CouponController {
    @PostMapping("/{id}/issue")
    public void issue(@PathVariable long id) {}

    @RequestMapping(path = "/{code:[A-Z]+}", method = {RequestMethod.GET, RequestMethod.HEAD})
    public void byCode(@PathVariable String code) {}

    @GetMapping
    public void list() {}
}
"#,
    );
    assert_eq!(
        routes(&facts),
        [
            "POST /api/coupons/{id}/issue -> com.shop.coupon.CouponController.issue",
            "POST /api/v1/coupons/{id}/issue -> com.shop.coupon.CouponController.issue",
            "GET /api/coupons/{code} -> com.shop.coupon.CouponController.byCode",
            "HEAD /api/coupons/{code} -> com.shop.coupon.CouponController.byCode",
            "GET /api/v1/coupons/{code} -> com.shop.coupon.CouponController.byCode",
            "HEAD /api/v1/coupons/{code} -> com.shop.coupon.CouponController.byCode",
            "GET /api/coupons -> com.shop.coupon.CouponController.list",
            "GET /api/v1/coupons -> com.shop.coupon.CouponController.list",
        ]
    );
}

#[test]
fn jpa_tables_explicit_or_spring_boot_snake_case() {
    let facts = one(
        "Shop.java",
        r#"
package com.shop;

@Entity
@Table(name = "orders")
class Order { @OneToMany(mappedBy = "order") private java.util.Set<OrderLine> lines; }

@Entity
class OrderLine { @ManyToOne private Order order; }

@Entity(name = "PurchaseHistory")
class History {}

class NotAnEntity {}
"#,
    );
    let tables: Vec<(String, String, bool, Vec<String>)> = facts
        .entities
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                e.table.clone(),
                e.table_explicit,
                e.relations.clone(),
            )
        })
        .collect();
    assert_eq!(
        tables,
        [
            (
                "com.shop.Order".into(),
                "orders".into(),
                true,
                vec!["OrderLine".to_owned()]
            ),
            (
                "com.shop.OrderLine".into(),
                "order_line".into(),
                false,
                vec!["Order".to_owned()]
            ),
            (
                "com.shop.History".into(),
                "purchase_history".into(),
                false,
                vec![]
            ),
        ]
    );
}

#[test]
fn spring_data_queries_are_jpql_unless_native() {
    let facts = one(
        "OrderRepository.java",
        r#"
package com.shop.order;

public interface OrderRepository extends JpaRepository<Order, Long> {
    @Query("select o from Order o where o.status = :status")
    List<Order> byStatus(String status);

    @Modifying
    @Query(value = "DELETE FROM orders WHERE created_at < :before", nativeQuery = true)
    int purge(Instant before);

    List<Order> findByMemberId(Long memberId);
}
"#,
    );
    assert_eq!(
        sql(&facts),
        [
            (
                "select o from Order o where o.status = :status".to_owned(),
                SqlDialect::Jpql,
                false
            ),
            (
                "DELETE FROM orders WHERE created_at < :before".to_owned(),
                SqlDialect::Sql,
                false
            ),
        ]
    );
    assert_eq!(facts.repositories.len(), 1);
    assert_eq!(facts.repositories[0].name, "com.shop.order.OrderRepository");
    assert_eq!(facts.repositories[0].entity, "Order");
    // Derived queries are left to the builder (repository + call); query methods are functions.
    let functions: Vec<&str> = facts.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        functions,
        [
            "com.shop.order.OrderRepository.byStatus",
            "com.shop.order.OrderRepository.purge"
        ]
    );
}

#[test]
fn java_calls_are_qualified_through_field_types_and_imports() {
    let facts = one(
        "OrderService.java",
        r#"
package com.shop.order;

import com.shop.coupon.CouponService;

@Service
@Transactional
public class OrderService {
    private final CouponService couponService;
    private final OrderRepository orders;

    public void place(String code) {
        couponService.redeem(code);
        this.orders.save(null);
        audit();
    }

    @Transactional(propagation = Propagation.NOT_SUPPORTED)
    void audit() {}
}
"#,
    );
    let calls: Vec<&str> = facts.calls.iter().map(|c| c.to.as_str()).collect();
    assert_eq!(
        calls,
        [
            "com.shop.coupon.CouponService.redeem",
            "com.shop.order.OrderRepository.save",
            "com.shop.order.OrderService.audit"
        ]
    );
    let transactional: Vec<(&str, bool)> = facts
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.transactional))
        .collect();
    assert_eq!(
        transactional,
        [
            ("com.shop.order.OrderService.place", true),
            ("com.shop.order.OrderService.audit", false)
        ]
    );
}

#[test]
fn jdbc_concatenation_keeps_literal_parts_and_is_dynamic() {
    let facts = one(
        "Report.java",
        r#"
package com.shop;

class Report {
    private static final String BASE = "SELECT id FROM orders";
    void run(JdbcTemplate jdbcTemplate, String sort) {
        jdbcTemplate.query(BASE + " WHERE status = 'PAID' ORDER BY " + sort, mapper);
        jdbcTemplate.update("""
            UPDATE orders
            SET status = 'SHIPPED'
            WHERE id = ?
            """, 1);
    }
}
"#,
    );
    assert_eq!(
        sql(&facts),
        [
            (
                "SELECT id FROM orders WHERE status = 'PAID' ORDER BY __dynamic__".to_owned(),
                SqlDialect::Sql,
                true
            ),
            (
                "UPDATE orders\nSET status = 'SHIPPED'\nWHERE id = ?".to_owned(),
                SqlDialect::Sql,
                false
            ),
        ]
    );
}

#[test]
fn mybatis_dynamic_tags_are_flattened() {
    let facts = one(
        "src/main/resources/mapper/CouponMapper.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?>
<mapper namespace="com.shop.coupon.CouponMapper">
  <sql id="cols">id, code, used</sql>
  <select id="search">
    SELECT <include refid="cols"/> FROM coupons
    <where>
      <if test="code != null">AND code = #{code}</if>
      <if test="ids != null">
        AND id IN <foreach collection="ids" item="id" open="(" separator="," close=")">#{id}</foreach>
      </if>
    </where>
    ORDER BY ${orderBy}
  </select>
  <update id="markUsed">
    UPDATE coupons <set><if test="used != null">used = #{used},</if></set> WHERE id = #{id}
  </update>
</mapper>
"#,
    );
    let functions: Vec<&str> = facts.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        functions,
        [
            "com.shop.coupon.CouponMapper.search",
            "com.shop.coupon.CouponMapper.markUsed"
        ]
    );
    assert_eq!(
        sql(&facts),
        [
            (
                "SELECT id, code, used FROM coupons WHERE code = ? AND id IN (?) ORDER BY __dynamic__".to_owned(),
                SqlDialect::Sql,
                true
            ),
            ("UPDATE coupons SET used = ? WHERE id = ?".to_owned(), SqlDialect::Sql, false),
        ]
    );
    assert_eq!(
        facts.sql[0].function.as_deref(),
        Some("com.shop.coupon.CouponMapper.search")
    );
    assert_eq!(facts.sql[0].line, 4);
}

#[test]
fn xml_that_is_not_a_mapper_yields_no_facts() {
    let facts = one(
        "pom.xml",
        "<project><select id=\"x\">SELECT 1 FROM t</select></project>",
    );
    assert!(facts.sql.is_empty() && facts.functions.is_empty());
}

#[test]
fn kotlin_spring_controller_entity_and_repository() {
    let facts = one(
        "Coupon.kt",
        r#"
package com.shop.coupon

@RestController
@RequestMapping("/api/coupons")
class CouponController(private val couponService: CouponService) {
    @PostMapping("/{id}/issue")
    @Transactional
    fun issue(@PathVariable id: Long) = couponService.issue(id)
}

@Entity
class CouponIssue(@ManyToOne val coupon: Coupon, @OneToMany val events: List<IssueEvent>)

interface CouponRepository : JpaRepository<Coupon, Long> {
    @Query("select c from Coupon c where c.code = :code")
    fun byCode(code: String): Coupon?
}
"#,
    );
    assert_eq!(
        routes(&facts),
        ["POST /api/coupons/{id}/issue -> com.shop.coupon.CouponController.issue"]
    );
    assert!(
        facts
            .functions
            .iter()
            .any(|f| f.name == "com.shop.coupon.CouponController.issue" && f.transactional)
    );
    assert_eq!(facts.calls[0].to, "com.shop.coupon.CouponService.issue");
    assert_eq!(facts.entities[0].table, "coupon_issue");
    assert_eq!(facts.entities[0].relations, ["Coupon", "IssueEvent"]);
    assert_eq!(facts.repositories[0].entity, "Coupon");
    assert_eq!(
        sql(&facts),
        [(
            "select c from Coupon c where c.code = :code".to_owned(),
            SqlDialect::Jpql,
            false
        )]
    );
}

#[test]
fn django_include_prefixes_and_path_converters() {
    let facts = one(
        "shop/urls.py",
        r#"
from django.urls import include, path, re_path
from orders import views

order_patterns = [
    path("<int:pk>/", views.detail),
    re_path(r"^(?P<pk>\d+)/lines/$", views.lines),
]

urlpatterns = [
    path("api/orders/", include(order_patterns)),
    path("api/users/", include("users.urls")),
]
"#,
    );
    assert_eq!(
        routes(&facts),
        [
            "ANY /api/orders/{pk}/ -> orders.views.detail",
            "ANY /api/orders/{pk}/lines/ -> orders.views.lines",
        ]
    );
    assert_eq!(mounts(&facts), ["/api/users/ -> users.urls @12"]);
}

#[test]
fn django_models_tables_relations_and_orm_access() {
    let models = one(
        "orders/models.py",
        r#"
from django.db import models

class Order(models.Model):
    member = models.ForeignKey("users.Member", on_delete=models.CASCADE)

class Payment(models.Model):
    order = models.OneToOneField(Order, on_delete=models.CASCADE)
    class Meta:
        db_table = "payments"
"#,
    );
    let tables: Vec<(&str, &str, bool)> = models
        .entities
        .iter()
        .map(|e| (e.name.as_str(), e.table.as_str(), e.table_explicit))
        .collect();
    assert_eq!(
        tables,
        [
            ("orders.models.Order", "orders_order", false),
            ("orders.models.Payment", "payments", true)
        ]
    );
    assert_eq!(models.entities[0].relations, ["users.Member"]);

    let views = one(
        "orders/views.py",
        r#"
from django.db import transaction
from .models import Order

@transaction.atomic
def cancel(pk):
    order = Order.objects.get(pk=pk)
    order.save()
    Order.objects.filter(pk=pk).update(status="X")

def report():
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM orders_order WHERE status = '{status}'")
"#,
    );
    let uses: Vec<(&str, &str, Access)> = views
        .table_uses
        .iter()
        .map(|u| (u.function.as_str(), u.target.as_str(), u.access))
        .collect();
    assert_eq!(
        uses,
        [
            ("orders.views.cancel", "orders.models.Order", Access::Read),
            ("orders.views.cancel", "orders.models.Order", Access::Write),
            ("orders.views.cancel", "orders.models.Order", Access::Write),
        ]
    );
    assert!(views.functions[0].transactional && !views.functions[1].transactional);
    assert_eq!(
        sql(&views),
        [(
            "SELECT * FROM orders_order WHERE status = '__dynamic__'".to_owned(),
            SqlDialect::Sql,
            true
        )]
    );
}

#[test]
fn flask_routes_with_blueprint_prefix() {
    let facts = one(
        "shop/orders.py",
        r#"
from flask import Blueprint
bp = Blueprint("orders", __name__, url_prefix="/orders")

@bp.route("/<int:order_id>", methods=["GET", "DELETE"])
def order(order_id):
    pass

@bp.post("/")
def create():
    pass
"#,
    );
    assert_eq!(
        routes(&facts),
        [
            "GET /orders/{order_id} -> shop.orders.order",
            "DELETE /orders/{order_id} -> shop.orders.order",
            "POST /orders/ -> shop.orders.create",
        ]
    );
}

#[test]
fn express_routers_mounted_in_the_same_file_get_their_prefix() {
    let facts = one(
        "src/app.ts",
        r#"
import express, { Router } from "express";
import usersRouter from "./routes/users";

const app = express();
const orders = Router();
orders.get("/:orderId", (req, res) => res.json({}));
orders.post("/", createOrder);
app.use("/api/orders", orders);
app.use("/api/users", usersRouter);

function createOrder(req, res) {}
"#,
    );
    assert_eq!(
        routes(&facts),
        [
            "GET /api/orders/{orderId} -> src/app.GET /{orderId}",
            "POST /api/orders -> src/app.createOrder",
        ]
    );
    assert_eq!(mounts(&facts), ["/api/users -> src/routes/users @10"]);
}

#[test]
fn nestjs_controllers_and_typeorm_entities() {
    let facts = one(
        "src/orders/orders.controller.ts",
        r#"
import { Order } from "./order.entity";

@Entity()
export class OrderLine {
  @ManyToOne(() => Order, (o) => o.lines)
  order: Order;
}

@Controller("orders")
export class OrdersController {
  constructor(@InjectRepository(Order) private readonly orders: Repository<Order>, private readonly dataSource: DataSource) {}

  @Get(":id")
  find(@Param("id") id: string) {
    return this.orders.findOneBy({ id });
  }

  @Post()
  async place() {
    await this.dataSource.transaction(async (manager) => {
      await manager.save(Order, {});
    });
  }
}
"#,
    );
    assert_eq!(
        routes(&facts),
        [
            "GET /orders/{id} -> src/orders/orders.controller.OrdersController.find",
            "POST /orders -> src/orders/orders.controller.OrdersController.place",
        ]
    );
    assert_eq!(facts.entities[0].table, "order_line");
    assert!(!facts.entities[0].table_explicit);
    assert_eq!(facts.entities[0].relations, ["Order"]);
    let uses: Vec<(&str, Access)> = facts
        .table_uses
        .iter()
        .map(|u| (u.target.as_str(), u.access))
        .collect();
    assert_eq!(
        uses,
        [
            ("src/orders/order.entity.Order", Access::Read),
            ("src/orders/order.entity.Order", Access::Write)
        ]
    );
    assert!(
        facts
            .functions
            .iter()
            .any(|f| f.name.ends_with("OrdersController.place") && f.transactional)
    );
}

#[test]
fn prisma_schema_models_map_and_relations() {
    let facts = one(
        "prisma/schema.prisma",
        r#"
model Order {
  id    Int    @id
  user  User   @relation(fields: [userId], references: [id])
  userId Int
  @@map("orders")
}
model User {
  id     Int     @id
  orders Order[]
}
"#,
    );
    let entities: Vec<(&str, &str, bool, Vec<String>)> = facts
        .entities
        .iter()
        .map(|e| {
            (
                e.name.as_str(),
                e.table.as_str(),
                e.table_explicit,
                e.relations.clone(),
            )
        })
        .collect();
    assert_eq!(
        entities,
        [
            ("Order", "orders", true, vec!["User".to_owned()]),
            ("User", "User", false, vec!["Order".to_owned()])
        ]
    );
}

#[test]
fn go_patterns_groups_sql_and_transactions() {
    let facts = one(
        "internal/shop/routes.go",
        r#"
package shop

func Routes(mux *http.ServeMux, r *gin.Engine, db *sql.DB) {
	mux.HandleFunc("POST /api/orders/{id}/cancel", cancel)
	v1 := r.Group("/api/v1")
	coupons := v1.Group("/coupons")
	coupons.GET("/:code", getCoupon)
}

func cancel(w http.ResponseWriter, r *http.Request) {
	tx, _ := db.Begin()
	tx.Exec("UPDATE orders SET status = 'CANCELLED' WHERE id = $1", r.PathValue("id"))
	tx.Commit()
}

type Coupon struct{ Code string }

func (Coupon) TableName() string { return "coupons" }
"#,
    );
    assert_eq!(
        routes(&facts),
        [
            "POST /api/orders/{id}/cancel -> internal/shop.cancel",
            "GET /api/v1/coupons/{code} -> internal/shop.getCoupon"
        ]
    );
    assert!(
        facts
            .functions
            .iter()
            .any(|f| f.name == "internal/shop.cancel" && f.transactional)
    );
    assert_eq!(
        sql(&facts),
        [(
            "UPDATE orders SET status = 'CANCELLED' WHERE id = $1".to_owned(),
            SqlDialect::Sql,
            false
        )]
    );
    assert_eq!(facts.entities[0].table, "coupons");
}

/// A large generated Java file goes through in one pass; a guard against
/// accidental quadratic work (the 1M-line budget is 60 s on 2 cores).
#[test]
fn large_java_file_is_extracted_in_one_pass() {
    let mut source = String::from(
        "package com.big;\n\nimport com.big.repo.ThingRepository;\n\n@Service\npublic class Big {\n    private ThingRepository things;\n",
    );
    for i in 0..5_000 {
        source.push_str(&format!(
            "    @Transactional\n    public void m{i}(long id) {{\n        things.save(id);\n        jdbcTemplate.update(\"UPDATE t{i} SET x = 1 WHERE id = ?\", id);\n        m{}(id);\n    }}\n",
            i + 1
        ));
    }
    source.push_str("}\n");
    let started = std::time::Instant::now();
    let facts = one("Big.java", &source);
    let elapsed = started.elapsed();
    assert_eq!(facts.functions.len(), 5_000);
    assert_eq!(facts.calls.len(), 15_000);
    assert_eq!(facts.sql.len(), 5_000);
    // ~30k lines; even an unoptimised build is far below this.
    assert!(
        elapsed < std::time::Duration::from_secs(20),
        "took {elapsed:?}"
    );
}

#[test]
fn drf_routers_fastapi_and_flask_mounts() {
    let facts = one(
        "shop/urls.py",
        r#"
from django.urls import include, path
from rest_framework.routers import DefaultRouter
from orders.api import OrderViewSet

router = DefaultRouter()
router.register(r"orders", OrderViewSet, basename="order")

urlpatterns = [path("api/", include(router.urls))]
"#,
    );
    assert_eq!(
        routes(&facts),
        [
            "ANY /api/orders/ -> orders.api.OrderViewSet",
            "ANY /api/orders/{pk}/ -> orders.api.OrderViewSet"
        ]
    );

    let app = one(
        "app/main.py",
        r#"
from fastapi import FastAPI
from app.routers import orders
from app.blueprints.users import bp

app = FastAPI()
app.include_router(orders.router, prefix="/api/orders")
app.register_blueprint(bp, url_prefix="/users")
"#,
    );
    assert!(routes(&app).is_empty(), "{:?}", routes(&app));
    assert_eq!(
        mounts(&app),
        [
            "/api/orders -> app.routers.orders.router @7",
            "/users -> app.blueprints.users.bp @8"
        ]
    );
}

#[test]
fn go_chi_route_blocks_and_gorilla_methods() {
    let facts = one(
        "api/routes.go",
        r#"
package api

func Mount(r chi.Router, m *mux.Router) {
	r.Route("/orders", func(r chi.Router) {
		r.Get("/{id}", getOrder)
		r.Route("/{id}/items", func(r chi.Router) {
			r.Post("/", addItem)
		})
	})
	r.Get("/health", health)
	m.HandleFunc("/coupons/{code}", redeem).Methods("POST", "PUT")
}
"#,
    );
    assert_eq!(
        routes(&facts),
        [
            "GET /orders/{id} -> api.getOrder",
            "POST /orders/{id}/items -> api.addItem",
            "GET /health -> api.health",
            "POST /coupons/{code} -> api.redeem",
            "PUT /coupons/{code} -> api.redeem",
        ]
    );
}

#[test]
fn java_static_imports_and_nested_types_qualify_calls() {
    let facts = one(
        "Checkout.java",
        r#"
package com.shop.order;

import static com.shop.common.Money.round;

class Checkout {
    void total(Line line) {
        round(line.amount());
        Line.of(1);
    }
    record Line(long amount) { static Line of(long a) { return new Line(a); } }
}
"#,
    );
    let calls: Vec<&str> = facts.calls.iter().map(|c| c.to.as_str()).collect();
    assert_eq!(
        calls,
        [
            "com.shop.common.Money.round",
            "com.shop.order.Checkout.Line.amount",
            "com.shop.order.Checkout.Line.of"
        ]
    );
}

/// Files cut short anywhere (an editor's half-saved file, a merge conflict) still
/// yield facts and never panic.
#[test]
fn truncated_files_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let frontends = frontends::all();
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).expect("fixture directory") {
            let path = entry.expect("fixture entry").path();
            if path.is_dir() {
                dirs.push(path)
            } else {
                files.push(path)
            }
        }
    }
    let mut extracted = 0;
    for path in files {
        let source = std::fs::read_to_string(&path).expect("fixture is UTF-8");
        for frontend in frontends.iter().filter(|f| f.accepts(&path)) {
            for (cut, _) in source.char_indices().step_by(29) {
                let facts = frontend.extract("cut", &source[..cut]);
                assert_eq!(facts.path, "cut");
                extracted += 1;
            }
        }
    }
    assert!(extracted > 1_000, "only {extracted} extractions");
}

#[test]
fn sqlalchemy_models_sessions_and_transactions() {
    let facts = one(
        "shop/orders.py",
        r#"
from sqlalchemy import ForeignKey, text
from sqlalchemy.orm import Mapped, relationship
from shop.db import Base, db

class Order(Base):
    __tablename__ = "orders"
    member_id = mapped_column(ForeignKey("members.id"))
    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order")

class Coupon(db.Model):
    code = db.Column(db.String)

def place(session, member_id):
    with session.begin():
        order = Order(member_id=member_id)
        session.add(order)
        session.query(Coupon).filter_by(code="X").first()
        session.execute(text("UPDATE members SET points = points - 10 WHERE id = :id"), {"id": member_id})
"#,
    );
    let entities: Vec<(&str, &str, bool, Vec<String>)> = facts
        .entities
        .iter()
        .map(|e| {
            (
                e.name.as_str(),
                e.table.as_str(),
                e.table_explicit,
                e.relations.clone(),
            )
        })
        .collect();
    assert_eq!(
        entities,
        [
            (
                "shop.orders.Order",
                "orders",
                true,
                vec!["OrderLine".to_owned()]
            ),
            ("shop.orders.Coupon", "coupon", false, vec![]),
        ]
    );
    let uses: Vec<(&str, Access)> = facts
        .table_uses
        .iter()
        .map(|u| (u.target.as_str(), u.access))
        .collect();
    assert_eq!(
        uses,
        [
            ("shop.orders.Order", Access::Write),
            ("shop.orders.Coupon", Access::Read)
        ]
    );
    assert!(facts.functions[0].transactional);
    assert_eq!(
        sql(&facts),
        [(
            "UPDATE members SET points = points - 10 WHERE id = :id".to_owned(),
            SqlDialect::Sql,
            false
        )]
    );
}

#[test]
fn python_modules_follow_the_package_layout() {
    let facts = one(
        "src/shop/orders/views.py",
        "from .models import Order\n\ndef list_orders():\n    return Order.objects.all()\n",
    );
    assert_eq!(facts.module, "shop.orders.views");
    assert_eq!(facts.imports[0].target, "shop.orders.models.Order");
    assert_eq!(facts.table_uses[0].target, "shop.orders.models.Order");
    assert_eq!(one("orders/__init__.py", "").module, "orders");
}

#[test]
fn axum_nest_of_another_files_router_is_a_mount() {
    let facts = one(
        "src/main.rs",
        r#"
mod orders;
use axum::{Router, routing::get};
use crate::billing::routes;

fn app() -> Router {
    Router::new()
        .route("/health", get(health))
        .nest("/api", api())
        .nest("/shop", routes())
        .nest_service("/static", ServeDir::new("assets"))
}

fn api() -> Router {
    Router::new().nest("/v1/orders", orders::router())
}

async fn health() {}
"#,
    );
    assert_eq!(routes(&facts), ["GET /health -> crate::health"]);
    assert_eq!(
        mounts(&facts),
        [
            "/shop -> crate::billing::routes @10",
            "/api/v1/orders -> crate::orders::router @15"
        ]
    );
}
