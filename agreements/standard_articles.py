"""The default text of a PKS between a Rutan/Lapas and a BNNK on P4GN and rehabilitation.

Editors start a new agreement from these articles, considerations and legal basis and then
adapt them. The wording is generic: it names the parties by their role (the BNNK and the
correctional units, *UPT Pemasyarakatan*) rather than by PIHAK PERTAMA/KEDUA, so that it fits
agreements with any number of parties.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from .models import Agreement, Article
from .terbilang import terbilang

#: Where the term of the agreement goes in the text of the article on Jangka Waktu.
TERM_PLACEHOLDER = "{jangka_waktu}"


@dataclass(frozen=True, slots=True)
class StandardArticle:
    """One article (Pasal) of the default text; its number is its place in the sequence."""

    heading: str
    body: str

    def render(self, term_months: int | None = None) -> str:
        """The body with the agreement's term written out, e.g. '2 (dua) tahun'."""
        return self.body.replace(TERM_PLACEHOLDER, term_in_words(term_months))


def term_in_words(term_months: int | None) -> str:
    """The term as a legal text writes it: '24' → '2 (dua) tahun', '18' → '18 (delapan belas)
    bulan'; without a term, a phrase that points to what the parties agreed."""
    if not term_months:
        return "sebagaimana disepakati oleh PARA PIHAK"
    if term_months % 12 == 0:
        years = term_months // 12
        return f"{years} ({terbilang(years)}) tahun"
    return f"{term_months} ({terbilang(term_months)}) bulan"


STANDARD_ARTICLES: tuple[StandardArticle, ...] = (
    StandardArticle(
        heading="Maksud dan Tujuan",
        body=(
            "(1) Maksud Perjanjian Kerja Sama ini adalah sebagai pedoman bagi PARA PIHAK dalam "
            "melaksanakan kerja sama Pencegahan dan Pemberantasan Penyalahgunaan dan Peredaran "
            "Gelap Narkotika dan Prekursor Narkotika (P4GN) serta layanan rehabilitasi narkotika "
            "bagi tahanan dan narapidana.\n"
            "(2) Tujuan Perjanjian Kerja Sama ini adalah mewujudkan lingkungan pemasyarakatan yang "
            "bersih dari narkotika serta memulihkan tahanan dan narapidana penyalah guna "
            "narkotika agar dapat kembali ke masyarakat dalam kondisi yang lebih baik."
        ),
    ),
    StandardArticle(
        heading="Ruang Lingkup",
        body=(
            "Ruang lingkup Perjanjian Kerja Sama ini meliputi:\n"
            "a. pencegahan penyalahgunaan narkotika melalui penyuluhan, diseminasi informasi dan "
            "pemberdayaan di lingkungan Rumah Tahanan Negara dan Lembaga Pemasyarakatan;\n"
            "b. deteksi dini melalui tes urine dan skrining bagi tahanan, narapidana dan petugas;\n"
            "c. asesmen dan penyelenggaraan rehabilitasi medis, rehabilitasi sosial dan "
            "pascarehabilitasi bagi tahanan dan narapidana;\n"
            "d. peningkatan kapasitas petugas pemasyarakatan dalam penyelenggaraan layanan "
            "rehabilitasi;\n"
            "e. pertukaran data dan informasi sesuai dengan ketentuan peraturan "
            "perundang-undangan."
        ),
    ),
    StandardArticle(
        heading="Pelaksanaan",
        body=(
            "(1) Pelaksanaan Perjanjian Kerja Sama ini dikoordinasikan oleh unit kerja yang "
            "ditunjuk oleh masing-masing PIHAK.\n"
            "(2) Rincian kegiatan, jadwal, sasaran dan penanggung jawab dituangkan dalam rencana "
            "kerja yang disusun dan disepakati bersama oleh PARA PIHAK.\n"
            "(3) Layanan rehabilitasi diselenggarakan di Rumah Tahanan Negara atau Lembaga "
            "Pemasyarakatan sesuai dengan standar pelayanan rehabilitasi yang berlaku."
        ),
    ),
    StandardArticle(
        heading="Hak dan Kewajiban",
        body=(
            "(1) Badan Narkotika Nasional Kabupaten berkewajiban menyediakan tenaga asesor, "
            "konselor dan narasumber, memberikan bimbingan teknis penyelenggaraan rehabilitasi, "
            "serta berhak memperoleh data dan laporan pelaksanaan kegiatan.\n"
            "(2) Unit Pelaksana Teknis Pemasyarakatan berkewajiban menyiapkan peserta, tempat, "
            "petugas pendamping serta sarana pendukung, menjamin keamanan dan ketertiban selama "
            "kegiatan, serta berhak memperoleh pendampingan dan dukungan teknis.\n"
            "(3) PARA PIHAK wajib menjaga kerahasiaan data pribadi tahanan dan narapidana yang "
            "diperoleh dalam pelaksanaan Perjanjian Kerja Sama ini dan hanya menggunakannya "
            "untuk keperluan rehabilitasi."
        ),
    ),
    StandardArticle(
        heading="Pembiayaan",
        body=(
            "Segala biaya yang timbul dalam pelaksanaan Perjanjian Kerja Sama ini dibebankan pada "
            "Daftar Isian Pelaksanaan Anggaran (DIPA) masing-masing PIHAK sesuai dengan tugas dan "
            "fungsinya, dan/atau sumber lain yang sah dan tidak mengikat sesuai dengan ketentuan "
            "peraturan perundang-undangan."
        ),
    ),
    StandardArticle(
        heading="Jangka Waktu",
        body=(
            "(1) Perjanjian Kerja Sama ini berlaku untuk jangka waktu "
            f"{TERM_PLACEHOLDER} terhitung sejak tanggal ditandatangani oleh PARA PIHAK.\n"
            "(2) Perjanjian Kerja Sama ini dapat diperpanjang atas kesepakatan PARA PIHAK, yang "
            "diusulkan secara tertulis paling lambat 3 (tiga) bulan sebelum jangka waktunya "
            "berakhir.\n"
            "(3) Perjanjian Kerja Sama ini dapat diakhiri sebelum jangka waktunya berakhir atas "
            "kesepakatan PARA PIHAK, dengan pemberitahuan tertulis paling lambat 1 (satu) bulan "
            "sebelumnya."
        ),
    ),
    StandardArticle(
        heading="Monitoring dan Evaluasi",
        body=(
            "(1) PARA PIHAK melaksanakan monitoring dan evaluasi atas pelaksanaan Perjanjian Kerja "
            "Sama ini secara bersama-sama paling sedikit 1 (satu) kali dalam 6 (enam) bulan.\n"
            "(2) Hasil monitoring dan evaluasi dituangkan dalam laporan tertulis dan digunakan "
            "sebagai bahan perbaikan pelaksanaan kerja sama."
        ),
    ),
    StandardArticle(
        heading="Keadaan Kahar",
        body=(
            "(1) Keadaan kahar adalah keadaan di luar kemampuan PARA PIHAK yang mengakibatkan "
            "Perjanjian Kerja Sama ini tidak dapat dilaksanakan, antara lain bencana alam, "
            "wabah penyakit, kerusuhan, kebakaran, serta kebijakan pemerintah di bidang "
            "keuangan dan kelembagaan.\n"
            "(2) PIHAK yang mengalami keadaan kahar wajib memberitahukannya secara tertulis "
            "kepada PIHAK lainnya paling lambat 14 (empat belas) hari kalender sejak terjadinya "
            "keadaan kahar.\n"
            "(3) Keadaan kahar tidak menimbulkan tuntutan dari PIHAK yang satu kepada PIHAK "
            "lainnya, dan PARA PIHAK akan bermusyawarah untuk menentukan kelanjutan kerja sama."
        ),
    ),
    StandardArticle(
        heading="Penyelesaian Perselisihan",
        body=(
            "(1) Apabila terjadi perselisihan dalam pelaksanaan Perjanjian Kerja Sama ini, PARA "
            "PIHAK sepakat menyelesaikannya secara musyawarah untuk mufakat.\n"
            "(2) Apabila musyawarah sebagaimana dimaksud pada ayat (1) tidak mencapai mufakat, "
            "PARA PIHAK sepakat menyelesaikannya dengan fasilitasi instansi atasan masing-masing."
        ),
    ),
    StandardArticle(
        heading="Penutup",
        body=(
            "(1) Hal-hal yang belum diatur atau perubahan atas Perjanjian Kerja Sama ini akan "
            "diatur kemudian dalam addendum atau amandemen yang disepakati PARA PIHAK dan "
            "merupakan bagian yang tidak terpisahkan dari Perjanjian Kerja Sama ini.\n"
            "(2) Perjanjian Kerja Sama ini dibuat dalam rangkap sebanyak jumlah PARA PIHAK, "
            "bermeterai cukup, dan masing-masing mempunyai kekuatan hukum yang sama."
        ),
    ),
)

#: The 'bahwa …' clauses, one per line, as `Agreement.considerations` holds them.
STANDARD_CONSIDERATIONS = "\n".join(
    (
        "bahwa penyalahgunaan dan peredaran gelap narkotika dan prekursor narkotika merupakan "
        "ancaman serius bagi kehidupan masyarakat, bangsa dan negara, termasuk di lingkungan "
        "Rumah Tahanan Negara dan Lembaga Pemasyarakatan;",
        "bahwa pecandu narkotika dan korban penyalahgunaan narkotika, termasuk tahanan dan "
        "narapidana, wajib menjalani rehabilitasi medis dan rehabilitasi sosial;",
        "bahwa untuk mewujudkan lingkungan pemasyarakatan yang bersih dari narkotika dan "
        "memulihkan tahanan dan narapidana penyalah guna narkotika diperlukan sinergi antara "
        "Badan Narkotika Nasional dan Unit Pelaksana Teknis Pemasyarakatan;",
        "bahwa berdasarkan pertimbangan sebagaimana dimaksud di atas, PARA PIHAK memandang "
        "perlu membuat Perjanjian Kerja Sama.",
    )
)

#: Laws and regulations, one per line, as `Agreement.legal_basis` holds them.
STANDARD_LEGAL_BASIS = "\n".join(
    (
        "Undang-Undang Nomor 35 Tahun 2009 tentang Narkotika;",
        "Undang-Undang Nomor 22 Tahun 2022 tentang Pemasyarakatan;",
        "Undang-Undang Nomor 27 Tahun 2022 tentang Pelindungan Data Pribadi;",
        "Peraturan Pemerintah Nomor 25 Tahun 2011 tentang Pelaksanaan Wajib Lapor Pecandu "
        "Narkotika;",
        "Peraturan Presiden Nomor 23 Tahun 2010 tentang Badan Narkotika Nasional;",
        "Peraturan Menteri Hukum dan Hak Asasi Manusia Nomor 12 Tahun 2017 tentang "
        "Penyelenggaraan Layanan Rehabilitasi Narkotika bagi Tahanan dan Warga Binaan "
        "Pemasyarakatan.",
    )
)


@transaction.atomic
def add_standard_articles(agreement: Agreement) -> list[Article]:
    """Give `agreement` the standard articles, numbered Pasal 1 to n in order.

    The article on Jangka Waktu names the agreement's term when it has one. Only for an
    agreement without articles: raises ValueError if it already has some, so that text an
    editor wrote is never mixed with or duplicated by the defaults.
    """
    if agreement.articles.exists():
        raise ValueError(f"Agreement {agreement.pk} already has articles.")
    return Article.objects.bulk_create(
        Article(
            agreement=agreement,
            number=number,
            heading=article.heading,
            body=article.render(agreement.term_months),
        )
        for number, article in enumerate(STANDARD_ARTICLES, start=1)
    )
