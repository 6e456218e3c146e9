package appconfig

import "testing"

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in   string
		want Endpoint
	}{
		// JDBC
		{"jdbc:postgresql://db.internal:5433/orders?ssl=true", Endpoint{Service: "postgresql", Host: "db.internal", Port: 5433, Database: "orders"}},
		{"jdbc:postgresql://db.internal/orders", Endpoint{Service: "postgresql", Host: "db.internal", Port: 5432, Database: "orders"}},
		{"jdbc:postgresql://pg1:5432,pg2:5432/app?targetServerType=primary", Endpoint{Service: "postgresql", Host: "pg1", Port: 5432, Database: "app"}},
		{"jdbc:postgresql://[::1]:5432/app", Endpoint{Service: "postgresql", Host: "::1", Port: 5432, Database: "app"}},
		{"jdbc:postgresql:app", Endpoint{Service: "postgresql", Host: "localhost", Port: 5432, Database: "app"}},
		{"jdbc:mysql://mysql.example.com:3307/shop?useSSL=false", Endpoint{Service: "mysql", Host: "mysql.example.com", Port: 3307, Database: "shop"}},
		{"jdbc:mysql://root:pw@db/shop", Endpoint{Service: "mysql", Host: "db", Port: 3306, Database: "shop"}},
		{"jdbc:mysql:loadbalance://m1:3306,m2:3306/shop", Endpoint{Service: "mysql", Host: "m1", Port: 3306, Database: "shop"}},
		{"jdbc:mysql://address=(host=myhost)(port=3310)(type=master)/db", Endpoint{Service: "mysql", Host: "myhost", Port: 3310, Database: "db"}},
		{"jdbc:mariadb://maria:3306/app", Endpoint{Service: "mariadb", Host: "maria", Port: 3306, Database: "app"}},
		{"jdbc:mariadb:replication://m1,m2/app", Endpoint{Service: "mariadb", Host: "m1", Port: 3306, Database: "app"}},
		{"jdbc:oracle:thin:@//ora.example.com:1522/ORCLPDB1", Endpoint{Service: "oracle", Host: "ora.example.com", Port: 1522, Database: "ORCLPDB1"}},
		{"jdbc:oracle:thin:@ora:1521:ORCL", Endpoint{Service: "oracle", Host: "ora", Port: 1521, Database: "ORCL"}},
		{"jdbc:oracle:thin:@ora:1521/svc", Endpoint{Service: "oracle", Host: "ora", Port: 1521, Database: "svc"}},
		{"jdbc:oracle:thin:scott/tiger@ora.example.com:1521:XE", Endpoint{Service: "oracle", Host: "ora.example.com", Port: 1521, Database: "XE"}},
		{"jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=orahost)(PORT=1523))(CONNECT_DATA=(SERVICE_NAME=sales.example.com)))", Endpoint{Service: "oracle", Host: "orahost", Port: 1523, Database: "sales.example.com"}},
		{"jdbc:oracle:thin:@(description = (address = (protocol = tcp)(host = h2o)(port = 1521))(connect_data = (sid = ORCL)))", Endpoint{Service: "oracle", Host: "h2o", Port: 1521, Database: "ORCL"}},
		{"jdbc:sqlserver://mssql.example.com:1434;databaseName=Sales;encrypt=true", Endpoint{Service: "sqlserver", Host: "mssql.example.com", Port: 1434, Database: "Sales"}},
		{"jdbc:sqlserver://mssql;databaseName=Sales", Endpoint{Service: "sqlserver", Host: "mssql", Port: 1433, Database: "Sales"}},
		{"jdbc:sqlserver://mssql\\SQLEXPRESS;database=Sales", Endpoint{Service: "sqlserver", Host: "mssql", Port: 1433, Database: "Sales"}},
		{"jdbc:sqlserver://;serverName=mssql2;portNumber=1500;databaseName=X", Endpoint{Service: "sqlserver", Host: "mssql2", Port: 1500, Database: "X"}},
		{"jdbc:jtds:sqlserver://legacy:1433/Shop;instance=A", Endpoint{Service: "sqlserver", Host: "legacy", Port: 1433, Database: "Shop"}},
		{"jdbc:db2://db2.example.com:50001/SAMPLE", Endpoint{Service: "db2", Host: "db2.example.com", Port: 50001, Database: "SAMPLE"}},
		{"jdbc:db2://db2host/SAMPLE", Endpoint{Service: "db2", Host: "db2host", Port: 50000, Database: "SAMPLE"}},
		{"jdbc:h2:tcp://h2srv:9092/~/test", Endpoint{Service: "h2", Host: "h2srv", Port: 9092, Database: "~/test"}},
		{"jdbc:h2:tcp://h2srv/mem:test", Endpoint{Service: "h2", Host: "h2srv", Port: 9092, Database: "mem:test"}},
		{"jdbc:derby://derbyhost:1527/appdb;create=true", Endpoint{Service: "derby", Host: "derbyhost", Port: 1527, Database: "appdb"}},
		{"jdbc:derby://derbyhost/appdb", Endpoint{Service: "derby", Host: "derbyhost", Port: 1527, Database: "appdb"}},
		{"jdbc:redshift://cluster.abc.redshift.amazonaws.com:5439/dev", Endpoint{Service: "redshift", Host: "cluster.abc.redshift.amazonaws.com", Port: 5439, Database: "dev"}},
		{"jdbc:postgresql://${DB_HOST}:5432/app", Endpoint{Service: "postgresql", Host: "${DB_HOST}", Port: 5432, Database: "app"}},
		// URLs
		{"redis://cache.internal:6380/0", Endpoint{Service: "redis", Host: "cache.internal", Port: 6380}},
		{"redis://:pw@cache", Endpoint{Service: "redis", Host: "cache", Port: 6379}},
		{"rediss://cache.example.com", Endpoint{Service: "redis", Host: "cache.example.com", Port: 6379}},
		{"mongodb://u:p@mongo1:27018,mongo2:27018/app?replicaSet=rs0", Endpoint{Service: "mongodb", Host: "mongo1", Port: 27018, Database: "app"}},
		{"mongodb+srv://cluster0.example.net/app", Endpoint{Service: "mongodb", Host: "cluster0.example.net", Database: "app"}},
		{"amqp://guest:guest@rabbit:5672/vhost", Endpoint{Service: "amqp", Host: "rabbit", Port: 5672}},
		{"amqps://rabbit.example.com", Endpoint{Service: "amqps", Host: "rabbit.example.com", Port: 5671}},
		{"http://api.example.com/v1", Endpoint{Service: "http", Host: "api.example.com", Port: 80}},
		{"https://api.example.com:8443/v1", Endpoint{Service: "https", Host: "api.example.com", Port: 8443}},
		{"http://es:9200", Endpoint{Service: "elasticsearch", Host: "es", Port: 9200}},
		{"ldap://ldap.example.com/dc=example,dc=com", Endpoint{Service: "ldap", Host: "ldap.example.com", Port: 389}},
		{"ldaps://ad.example.com:3269", Endpoint{Service: "ldaps", Host: "ad.example.com", Port: 3269}},
		{"postgres://app:pw@pg:5432/orders", Endpoint{Service: "postgresql", Host: "pg", Port: 5432, Database: "orders"}},
		{"tcp://broker:61616", Endpoint{Service: "activemq", Host: "broker", Port: 61616}},
		{"failover:(tcp://b1:61616,tcp://b2:61616)?randomize=false", Endpoint{Service: "activemq", Host: "b1", Port: 61616}},
		{"r2dbc:postgresql://pg/app", Endpoint{Service: "postgresql", Host: "pg", Port: 5432, Database: "app"}},
		// host:port lists with a well-known port
		{"kafka1:9092,kafka2:9092", Endpoint{Service: "kafka", Host: "kafka1", Port: 9092}},
		{"redis:6379", Endpoint{Service: "redis", Host: "redis", Port: 6379}},
		{"cache:6379,password=pw,ssl=False", Endpoint{Service: "redis", Host: "cache", Port: 6379}},
		{"10.0.0.5:5432", Endpoint{Service: "postgresql", Host: "10.0.0.5", Port: 5432}},
		// ADO.NET connection strings
		{"Server=sql.example.com;Database=Shop;User Id=sa;Password=x;", Endpoint{Service: "sqlserver", Host: "sql.example.com", Port: 1433, Database: "Shop"}},
		{"Data Source=tcp:sql.example.com,1435;Initial Catalog=Shop;Integrated Security=True", Endpoint{Service: "sqlserver", Host: "sql.example.com", Port: 1435, Database: "Shop"}},
		{"Data Source=.\\SQLEXPRESS;Initial Catalog=Shop;Integrated Security=SSPI", Endpoint{Service: "sqlserver", Host: "localhost", Port: 1433, Database: "Shop"}},
		{"Server=(localdb)\\MSSQLLocalDB;Database=App;Trusted_Connection=True;MultipleActiveResultSets=true", Endpoint{Service: "sqlserver", Host: "localhost", Port: 1433, Database: "App"}},
		{"Host=pg.example.com;Port=5433;Database=app;Username=app;Password=pw", Endpoint{Service: "postgresql", Host: "pg.example.com", Port: 5433, Database: "app"}},
		{"Host=pg;Database=app;Username=app", Endpoint{Service: "postgresql", Host: "pg", Port: 5432, Database: "app"}},
		{"Server=mysql.example.com;Port=3306;Database=shop;Uid=shop;Pwd=pw;", Endpoint{Service: "mysql", Host: "mysql.example.com", Port: 3306, Database: "shop"}},
		{"Server=mysql;Database=shop;Uid=shop;Pwd=pw;", Endpoint{Service: "mysql", Host: "mysql", Port: 3306, Database: "shop"}},
		{"Data Source=ora.example.com:1521/ORCL;User Id=scott;Password=tiger;", Endpoint{Service: "oracle", Host: "ora.example.com", Port: 1521, Database: "ORCL"}},
		{"Data Source=(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=ora)(PORT=1521))(CONNECT_DATA=(SERVICE_NAME=XE)));User Id=a;Password=b", Endpoint{Service: "oracle", Host: "ora", Port: 1521, Database: "XE"}},
		{"Driver={ODBC Driver 17 for SQL Server};Server=odbc.example.com;Database=x;Uid=u;Pwd=p", Endpoint{Service: "sqlserver", Host: "odbc.example.com", Port: 1433, Database: "x"}},
	}
	for _, tc := range tests {
		got, ok := ParseEndpoint(tc.in)
		if !ok {
			t.Errorf("ParseEndpoint(%q) not recognised, want %+v", tc.in, tc.want)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseEndpoint(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseEndpointRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"hello world",
		"jdbc:h2:mem:testdb",
		"jdbc:h2:file:./data/db",
		"jdbc:derby:memory:db;create=true",
		"jdbc:sqlite:/var/lib/app.db",
		"jdbc:hsqldb:mem:test",
		"jdbc:oracle:thin:@PRODDB", // a TNS alias, resolved elsewhere
		"file:///etc/app.conf",
		"classpath:application.yml",
		"http://*:8080",
		"http://0.0.0.0:8080",
		"localhost:8080", // no well-known port
		"12:30",
		"a=b;c=d",
		"org.postgresql.Driver",
		"/var/lib/app",
		"%d{HH:mm:ss} %msg%n",
	} {
		if got, ok := ParseEndpoint(in); ok {
			t.Errorf("ParseEndpoint(%q) = %+v, want not recognised", in, got)
		}
	}
}

func TestServiceForPort(t *testing.T) {
	tests := map[int]string{
		5432: "postgresql", 3306: "mysql", 1521: "oracle", 1433: "sqlserver", 50000: "db2",
		6379: "redis", 27017: "mongodb", 5672: "amqp", 5671: "amqps", 9092: "kafka",
		11211: "memcached", 389: "ldap", 636: "ldaps", 9200: "elasticsearch", 25: "smtp",
		587: "smtp", 80: "http", 443: "https", 61616: "activemq", 2181: "zookeeper",
		8500: "consul", 9042: "cassandra", 8080: "", 0: "", 12345: "",
	}
	for port, want := range tests {
		if got := ServiceForPort(port); got != want {
			t.Errorf("ServiceForPort(%d) = %q, want %q", port, got, want)
		}
	}
}
