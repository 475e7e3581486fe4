fn main() {
    use surveyd::domain::*;
    let t = std::time::Instant::now();
    let n = 20000;
    for i in 0..n {
        let s = format!("0812{:08}", 10000000 + i * 7);
        let _ = Phone::parse_in(&s, phonenumber::country::Id::ID);
    }
    println!(
        "phone: {:.1} us/parse",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for i in 0..n {
        let _ = Email::parse(&format!("budi.{i}@example.co.id"));
    }
    println!(
        "email: {:.1} us/parse",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        let _ = Locale::parse("id");
        let _ = TimeZone::parse("Asia/Jakarta");
    }
    println!(
        "locale+tz: {:.1} us/parse",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
