// HelloServer is hoist's built-in sample application: a small Java HTTP
// service of the kind hoist migrates. It listens on 127.0.0.1 (this
// project's machines only serve loopback), reads a Spring-style
// application.properties from its working directory, and talks to nothing.
import com.sun.net.httpserver.HttpServer;
import java.io.FileInputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

public class HelloServer {
    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 18080;
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream("application.properties")) {
            props.load(in);
        } catch (java.io.FileNotFoundException e) {
            // optional
        }
        String greeting = props.getProperty("greeting", "hello from the hoist sample app");
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.createContext("/", exchange -> {
            byte[] body = (greeting + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(body);
            }
        });
        server.createContext("/health", exchange -> {
            byte[] body = "ok\n".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(body);
            }
        });
        // What the app read as its database password, as a digest: lets a
        // test check that the value reached the container without the
        // value itself ever being served.
        String password = props.getProperty("spring.datasource.password", "");
        java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
        StringBuilder hex = new StringBuilder();
        for (byte b : md.digest(password.getBytes(StandardCharsets.UTF_8))) {
            hex.append(String.format("%02x", b));
        }
        String digest = hex.toString();
        server.createContext("/config-digest", exchange -> {
            byte[] body = ("spring.datasource.password sha256=" + digest + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(body);
            }
        });
        server.start();
        System.out.println("listening on 127.0.0.1:" + port);
    }
}
