use sqlx::sqlite::SqlitePoolOptions;
use std::time::Instant;
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite:///tmp/loadtime.db")
        .await
        .unwrap();
    for _ in 0..3 {
        for (t, c) in [("service","id, description_id, service_code, service_version, title, url, timeout_seconds, ssl_authentication"),("endpoint","service_id, method, path"),("local_group_member","group_id, instance, member_class, member_code, subsystem_code"),("access_right","client_id, service_code, method, path, subject_type, instance, member_class, member_code, subsystem_code, group_code")] {
            let t0 = Instant::now();
            let s: String = sqlx::query_scalar(&format!("SELECT json_group_array(json_array({c}) ORDER BY id) FROM {t}")).fetch_one(&pool).await.unwrap();
            let t1 = t0.elapsed();
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            std::hint::black_box(v);
            println!("{t}: {} bytes query {:?} parse-as-value {:?}", s.len(), t1, t0.elapsed()-t1);
        }
        let t0 = Instant::now();
        let s: String = sqlx::query_scalar("SELECT json_group_array(json_array(client_id, service_code, method, path, subject_type, instance, member_class, member_code, subsystem_code, group_code)) FROM access_right").fetch_one(&pool).await.unwrap();
        println!("acl no order: {} {:?}", s.len(), t0.elapsed());
        let t0 = Instant::now();
        let s: i64 = sqlx::query_scalar("SELECT sum(length(service_code)+length(method)+length(path)+length(subject_type)+length(instance)+length(member_class)+length(member_code)+length(subsystem_code)+length(group_code)) FROM access_right").fetch_one(&pool).await.unwrap();
        println!("acl scan only: {} {:?}", s, t0.elapsed());
    }
}
