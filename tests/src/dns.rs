//! A real DNS server on loopback (hickory-server over UDP and TCP) serving a test zone
//! the test can change while it runs: TXT records appear and disappear as a domain
//! owner would make them.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use hickory_proto::{
    op::{Header, ResponseCode},
    rr::{Name, RData, Record, RecordType, rdata::TXT},
};
use hickory_server::{
    ServerFuture,
    authority::MessageResponseBuilder,
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
};
use tokio::{
    net::{TcpListener, UdpSocket},
    task::JoinHandle,
};

type Zone = Arc<Mutex<HashMap<String, Vec<String>>>>;

#[derive(Clone)]
struct ZoneHandler(Zone);

#[async_trait::async_trait]
impl RequestHandler for ZoneHandler {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut header = Header::response_from_request(request.header());
        header.set_authoritative(true);
        let builder = MessageResponseBuilder::from_message_request(request);
        let records: Vec<Record> = match request.request_info() {
            Ok(info) if info.query.query_type() == RecordType::TXT => {
                let name = Name::from(info.query.name().clone());
                let key = name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
                let zone = self.0.lock().unwrap();
                zone.get(&key)
                    .into_iter()
                    .flatten()
                    .map(|value| {
                        Record::from_rdata(
                            name.clone(),
                            0,
                            RData::TXT(TXT::new(vec![value.clone()])),
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        if records.is_empty() {
            header.set_response_code(ResponseCode::NXDomain);
        }
        let response = builder.build(header, records.iter(), &[], &[], &[]);
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(_) => header.into(),
        }
    }
}

/// A DNS server on `127.0.0.1:<ephemeral>`, stopped when dropped.
pub struct TestDns {
    pub addr: SocketAddr,
    zone: Zone,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for TestDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDns").field("addr", &self.addr).finish()
    }
}

impl TestDns {
    pub async fn start() -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("udp addr");
        let tcp = TcpListener::bind(addr)
            .await
            .expect("bind tcp on the same port");
        let zone: Zone = Arc::default();
        let mut server = ServerFuture::new(ZoneHandler(zone.clone()));
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5));
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        Self { addr, zone, task }
    }

    /// Publishes a TXT record (replacing the name's others).
    pub fn set_txt(&self, name: &str, value: &str) {
        self.zone
            .lock()
            .unwrap()
            .insert(name.to_ascii_lowercase(), vec![value.to_owned()]);
    }

    pub fn remove(&self, name: &str) {
        self.zone.lock().unwrap().remove(&name.to_ascii_lowercase());
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}
