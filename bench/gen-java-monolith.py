#!/usr/bin/env python3
"""Generates a synthetic Spring/JPA monolith for the `msa-migrate analyze` benchmark.

Deterministic for given arguments: the same tree every run. Each domain gets a
package with entities (JPA @Entity/@Table, relations), Spring Data repositories
(with @Query JPQL and native SQL), services (@Transactional, calling their own
repositories and, now and then, another domain's service, with JdbcTemplate SQL
and a MyBatis mapper call), REST controllers, and one MyBatis mapper (a Java
interface and its XML, with dynamic tags) over the package's tables.

    bench/gen-java-monolith.py --out target/bench/java-monolith --lines 1000000
"""

import argparse
import os
import random

FIELDS = ["name", "code", "status", "amount", "quantity", "price", "note", "createdAt", "updatedAt", "version"]


def entity(pkg, name, table, refs, rng):
    lines = [f"package {pkg}.domain;", "", "import jakarta.persistence.*;", "import java.time.Instant;", ""]
    lines += ["@Entity", f'@Table(name = "{table}")', f"public class {name} {{", "    @Id", "    @GeneratedValue(strategy = GenerationType.IDENTITY)", "    private Long id;", ""]
    fields = rng.sample(FIELDS, 6)
    for f in fields:
        lines += [f'    @Column(name = "{f.lower()}")', f"    private String {f};", ""]
    for ref_pkg, ref in refs:
        lines += ["    @ManyToOne(fetch = FetchType.LAZY)", f'    @JoinColumn(name = "{ref.lower()}_id")', f"    private {ref_pkg}.domain.{ref} {ref[0].lower() + ref[1:]};", ""]
    for f in fields:
        cap = f[0].upper() + f[1:]
        lines += [f"    public String get{cap}() {{", f"        return {f};", "    }", "", f"    public void set{cap}(String value) {{", f"        this.{f} = value;", "    }", ""]
    lines += ["    public Long getId() {", "        return id;", "    }", "}", ""]
    return lines


def repository(pkg, name, table):
    return [
        f"package {pkg}.repository;", "",
        "import org.springframework.data.jpa.repository.JpaRepository;",
        "import org.springframework.data.jpa.repository.Query;",
        "import org.springframework.data.jpa.repository.Modifying;",
        f"import {pkg}.domain.{name};", "import java.util.List;", "",
        f"public interface {name}Repository extends JpaRepository<{name}, Long> {{",
        f'    @Query("SELECT e FROM {name} e WHERE e.status = :status")',
        f"    List<{name}> findByStatus(String status);", "",
        f'    @Query(value = "SELECT * FROM {table} WHERE code = ?1 ORDER BY id DESC", nativeQuery = true)',
        f"    List<{name}> findRecentByCode(String code);", "",
        "    @Modifying",
        f'    @Query(value = "UPDATE {table} SET status = :status WHERE id = :id", nativeQuery = true)',
        "    int updateStatus(Long id, String status);",
        "}", "",
    ]


def mapper_name(domain):
    return f"{domain.upper()}ReportMapper"


def service(pkg, domain, name, table, others, rng):
    var = name[0].lower() + name[1:]
    mapper = mapper_name(domain)
    lines = [f"package {pkg}.service;", "", "import org.springframework.jdbc.core.JdbcTemplate;",
             "import org.springframework.stereotype.Service;",
             "import org.springframework.transaction.annotation.Transactional;",
             f"import {pkg}.domain.{name};", f"import {pkg}.mapper.{mapper};",
             f"import {pkg}.repository.{name}Repository;"]
    for other_pkg, other in others:
        lines.append(f"import {other_pkg}.service.{other}Service;")
    lines += ["import java.util.List;", "import java.util.Map;", "", "@Service", f"public class {name}Service {{",
              f"    private final {name}Repository {var}Repository;",
              "    private final JdbcTemplate jdbcTemplate;",
              f"    private final {mapper} reportMapper;"]
    for _, other in others:
        lines.append(f"    private final {other}Service {other[0].lower() + other[1:]}Service;")
    params = ", ".join([f"{name}Repository {var}Repository", "JdbcTemplate jdbcTemplate", f"{mapper} reportMapper"]
                       + [f"{o}Service {o[0].lower() + o[1:]}Service" for _, o in others])
    lines += ["", f"    public {name}Service({params}) {{", f"        this.{var}Repository = {var}Repository;",
              "        this.jdbcTemplate = jdbcTemplate;", "        this.reportMapper = reportMapper;"]
    for _, other in others:
        v = other[0].lower() + other[1:]
        lines.append(f"        this.{v}Service = {v}Service;")
    lines += ["    }", ""]
    # JdbcTemplate SQL: a query and an update, as string literals.
    lines += ["    public List<Map<String, Object>> report(String status) {",
              f'        return jdbcTemplate.queryForList("SELECT id, code, status FROM {table} WHERE status = ? ORDER BY id DESC", status);',
              "    }", "",
              "    @Transactional", "    public int archive(Long id) {",
              f'        return jdbcTemplate.update("UPDATE {table} SET status = \'ARCHIVED\' WHERE id = ?", id);',
              "    }", "",
              "    public long countActive() {",
              f"        return reportMapper.count{name}(\"ACTIVE\");",
              "    }", ""]
    lines += [f"    public {name} get(Long id) {{", f"        return {var}Repository.findById(id).orElseThrow();", "    }", ""]
    lines += [f"    public List<{name}> byStatus(String status) {{", f"        return {var}Repository.findByStatus(status);", "    }", ""]
    lines += ["    @Transactional", f"    public {name} create({name} input) {{",
              "        input.setStatus(\"NEW\");"]
    for _, other in others:
        v = other[0].lower() + other[1:]
        lines.append(f"        {v}Service.touch(input.getId());")
    lines += [f"        return {var}Repository.save(input);", "    }", ""]
    lines += ["    @Transactional", "    public void touch(Long id) {", f"        {var}Repository.updateStatus(id, \"TOUCHED\");", "    }", ""]
    for i in range(rng.randint(2, 5)):
        lines += [f"    public String describe{i}(Long id) {{", f"        {name} found = get(id);",
                  "        StringBuilder out = new StringBuilder();", f"        out.append(\"{name} \").append(id);",
                  "        if (found.getId() == null) {", "            return \"missing\";", "        }",
                  "        return out.toString();", "    }", ""]
    lines += ["}", ""]
    return lines


def mapper_java(pkg, domain, entities):
    """The package's MyBatis mapper interface: one method per statement of its XML."""
    lines = [f"package {pkg}.mapper;", "", "import org.apache.ibatis.annotations.Mapper;",
             "import org.apache.ibatis.annotations.Param;", "import java.util.List;", "import java.util.Map;", "",
             "@Mapper", f"public interface {mapper_name(domain)} {{"]
    for name, _ in entities:
        lines += [f'    long count{name}(@Param("status") String status);',
                  f'    List<Map<String, Object>> search{name}(@Param("code") String code, @Param("ids") List<Long> ids);',
                  f'    int touch{name}(@Param("id") Long id, @Param("note") String note);', ""]
    lines += ["}", ""]
    return lines


def mapper_xml(pkg, domain, entities):
    """The package's MyBatis mapper XML: counts, dynamic searches and updates of its tables."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<!DOCTYPE mapper PUBLIC "-//mybatis.org//DTD Mapper 3.0//EN" "http://mybatis.org/dtd/mybatis-3-mapper.dtd">',
             f'<mapper namespace="{pkg}.mapper.{mapper_name(domain)}">']
    for name, table in entities:
        lines += [f'    <select id="count{name}" resultType="long">',
                  f"        SELECT COUNT(*) FROM {table} WHERE status = #{{status}}",
                  "    </select>",
                  f'    <select id="search{name}" resultType="map">',
                  f"        SELECT id, code, status FROM {table}",
                  "        <where>",
                  '            <if test="code != null">AND code = #{code}</if>',
                  '            <if test="ids != null">AND id IN',
                  '                <foreach collection="ids" item="id" open="(" separator="," close=")">#{id}</foreach>',
                  "            </if>",
                  "        </where>",
                  "    </select>",
                  f'    <update id="touch{name}">',
                  f"        UPDATE {table}",
                  '        <set><if test="note != null">note = #{note},</if> status = \'TOUCHED\'</set>',
                  "        WHERE id = #{id}",
                  "    </update>"]
    lines += ["</mapper>", ""]
    return lines


def controller(pkg, domain, name):
    var = name[0].lower() + name[1:]
    path = f"/api/{domain}/{name.lower()}s"
    return [
        f"package {pkg}.web;", "",
        "import org.springframework.web.bind.annotation.*;",
        f"import {pkg}.domain.{name};", f"import {pkg}.service.{name}Service;", "import java.util.List;", "",
        "@RestController", f'@RequestMapping("{path}")', f"public class {name}Controller {{",
        f"    private final {name}Service {var}Service;", "",
        f"    public {name}Controller({name}Service {var}Service) {{", f"        this.{var}Service = {var}Service;", "    }", "",
        '    @GetMapping("/{id}")', f"    public {name} get(@PathVariable Long id) {{", f"        return {var}Service.get(id);", "    }", "",
        "    @GetMapping", f"    public List<{name}> list(@RequestParam String status) {{", f"        return {var}Service.byStatus(status);", "    }", "",
        "    @PostMapping", f"    public {name} create(@RequestBody {name} input) {{", f"        return {var}Service.create(input);", "    }",
        "}", "",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--lines", type=int, default=1_000_000, help="about this many lines in total")
    parser.add_argument("--domains", type=int, default=40)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    written = files = 0
    root = os.path.join(args.out, "src", "main", "java")
    catalog = []  # (pkg, entity name) already generated, for cross-domain references
    mapped = {}  # domain -> [(entity name, table)] for its MyBatis mapper, written last
    n = 0
    while written < args.lines:
        d = n % args.domains
        domain = f"d{d:02d}"
        pkg = f"com.bench.{domain}"
        name = f"E{domain.upper()}x{n // args.domains:04d}"
        table = f"{domain}_{name.lower()}"
        same = [c for c in catalog if c[0] == pkg]
        other = [c for c in catalog if c[0] != pkg]
        refs = rng.sample(same, min(len(same), 2)) + (rng.sample(other, 1) if other and rng.random() < 0.15 else [])
        callees = (rng.sample(same, min(len(same), 1)) + (rng.sample(other, 1) if other and rng.random() < 0.1 else []))
        parts = {
            "domain": entity(pkg, name, table, refs, rng),
            "repository": repository(pkg, name, table),
            "service": service(pkg, domain, name, table, callees, rng),
            "web": controller(pkg, domain, name),
        }
        for sub, lines in parts.items():
            suffix = {"domain": "", "repository": "Repository", "service": "Service", "web": "Controller"}[sub]
            folder = os.path.join(root, *pkg.split("."), sub)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{name}{suffix}.java"), "w") as f:
                f.write("\n".join(lines))
            written += len(lines)
            files += 1
        catalog.append((pkg, name))
        mapped.setdefault(domain, []).append((name, table))
        # The mapper's share (interface and XML), so the total stays near --lines.
        written += len(mapper_java(pkg, domain, [(name, table)])) - 10
        written += len(mapper_xml(pkg, domain, [(name, table)])) - 4
        n += 1
    for domain, entities in sorted(mapped.items()):
        pkg = f"com.bench.{domain}"
        java = mapper_java(pkg, domain, entities)
        folder = os.path.join(root, *pkg.split("."), "mapper")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{mapper_name(domain)}.java"), "w") as f:
            f.write("\n".join(java))
        xml = mapper_xml(pkg, domain, entities)
        folder = os.path.join(args.out, "src", "main", "resources", "mapper", domain)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{mapper_name(domain)}.xml"), "w") as f:
            f.write("\n".join(xml))
        files += 2
    print(f"wrote {files} files, {written} lines, {n} entities in {args.domains} domains under {args.out}")


if __name__ == "__main__":
    main()
